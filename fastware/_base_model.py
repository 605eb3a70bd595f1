"""The base class of the generated message models.

It adds what JSON Schema cannot hand to pydantic (the close-code holes, the
UTF-8 byte limit, header-name rules, exactly one of bytes/text) by running the
same generated checks the WebSocket methods use, and the way back from a model
to the exact ASGI dict a server expects.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from fastware._generated.checks import MESSAGE_CHECKS


class ASGIModel(BaseModel):
    """A validated ASGI message or scope; unknown keys are kept, as the spec requires."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="allow", populate_by_name=True)

    # ASGI key -> attribute name, per class (the `bytes` key is the `bytes_` attribute).
    _asgi_keys: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._asgi_keys = tuple((field.alias or name, name) for name, field in cls.model_fields.items())

    @model_validator(mode="after")
    def _check_schema_rules(self) -> ASGIModel:
        check = MESSAGE_CHECKS.get(getattr(self, "type", ""))
        if check is not None:
            check({key: getattr(self, name) for key, name in self._asgi_keys})
        return self

    def to_asgi(self) -> dict[str, Any]:
        """The ASGI dict for this message: ASGI key names, unset keys left out, `type` always present."""
        message = self.model_dump(by_alias=True, exclude_unset=True)
        if "type" in type(self).model_fields:
            message["type"] = self.type  # type: ignore[attr-defined]
        return message
