"""Generate the pydantic v2 message models with datamodel-code-generator.

Reads the analysed schema; returns the source of generated/models.py.

datamodel-code-generator (DCG) is given a *view* of the schema, because some
JSON Schema it maps in ways fastware cannot use (each point was tried):

- a ``pattern`` on a ``format: binary`` string makes pydantic turn the bytes
  into str, and DCG ignores ``not``: both are dropped; checks.py enforces them
  and the models call it (see fastware._base_model);
- an object-level ``oneOf`` (exactly one of bytes/text) makes DCG split the
  message into two classes and lose the union's discriminator: it is dropped,
  and checks.py's ``*_exactly_one`` enforces it;
- the root's title and description would become a model of their own.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from datamodel_code_generator import DataModelType, InputFileType, LiteralType, PythonVersion, generate

from codegen.spec import Spec

BASE_CLASS = "fastware._base_model.ASGIModel"


def dcg_view(raw: dict[str, Any]) -> dict[str, Any]:
    view = copy.deepcopy({"$schema": raw["$schema"], "$defs": raw["$defs"]})

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("format") == "binary":
                node.pop("pattern", None)
                node.pop("not", None)
            if node.get("type") == "object":
                node.pop("oneOf", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(view)
    return view


def render_models(spec: Spec, header: str) -> str:
    source = generate(
        json.dumps(dcg_view(spec.raw)),
        input_file_type=InputFileType.JsonSchema,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        base_class=BASE_CLASS,
        use_annotated=True,
        field_constraints=True,
        use_one_literal_as_default=True,
        # An enum as a Literal, not an Enum class: validated mode checks scalars strictly, and a strict
        # Enum field refuses the plain str a server or an app passes.
        enum_field_as_literal=LiteralType.All,
        use_title_as_name=True,
        collapse_root_models=True,
        skip_root_model=True,
        use_tuple_for_fixed_items=True,
        strict_nullable=True,
        use_schema_description=True,
        use_field_description=True,
        use_double_quotes=True,
        keep_model_order=True,
        disable_timestamp=True,
        custom_file_header=header,
        formatters=[],
    )
    if not isinstance(source, str):
        raise TypeError(f"datamodel-code-generator returned {type(source).__name__}, expected one module")
    return source
