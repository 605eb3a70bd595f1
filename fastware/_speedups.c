/* fastware._speedups: the C fast path of the hot send and receive methods.
 *
 * An `async def` method costs a coroutine object and a frame per call, about as much as the
 * server's own receive() or send(). fastware/_accel.py wraps the generated send_text, send_bytes,
 * receive_text and receive_bytes in a HotMethod: called in their common case, they return a Step,
 * a small coroutine-like object that, when awaited, checks the connection is open, awaits the
 * server's callable and reads the result in C. Any other call goes to the generated method.
 *
 * It knows nothing of the protocol: the message type, keys and payload type, and the Python
 * functions for every other case, come from the generated code. Without this module the generated
 * async defs run as they are, with the same behaviour (tests/unit/test_speedups.py, run both ways).
 *
 * A Step, at its first step:
 *     ws._open is false -> await func(ws[, data]): the generated method, which raises or waits as the state says
 *     sending           -> await ws._send(message); OSError -> raise ws._connection_lost() from None
 *     receiving         -> message = await ws._receive(); its payload if it matches, else then(ws, message)
 *                          (with a convert slot: ws.<slot>(payload); if that raises, then(ws, message, error))
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include "structmember.h"

typedef struct {
    PyObject_HEAD
    PyObject *ws;
    PyObject *call;    /* the server's send or receive */
    PyObject *message; /* the message to send; NULL when receiving */
    PyObject *func;    /* the Python method: func(ws[, data]) is the checked, state-tracking path */
    PyObject *data;    /* the send method's argument; NULL when receiving */
    PyObject *then;    /* receiving: then(ws, message) -> value, for a message that does not match */
    PyObject *match;   /* receiving: (type, key, payload type, other key[, convert slot]) */
    PyObject *inner;   /* the iterator being awaited, once started */
    char started;
    char done;
    char fast; /* started on the fast path: read the result, translate OSError */
} StepObject;

static PyTypeObject Step_Type;
static PyObject *str_open, *str_connection_lost, *str_type, *str_throw, *str_close, *str_send, *str_receive,
    *str_timeout;

static int
Step_traverse(StepObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->ws);
    Py_VISIT(self->call);
    Py_VISIT(self->message);
    Py_VISIT(self->func);
    Py_VISIT(self->data);
    Py_VISIT(self->then);
    Py_VISIT(self->match);
    Py_VISIT(self->inner);
    return 0;
}

static int
Step_clear(StepObject *self)
{
    Py_CLEAR(self->ws);
    Py_CLEAR(self->call);
    Py_CLEAR(self->message);
    Py_CLEAR(self->func);
    Py_CLEAR(self->data);
    Py_CLEAR(self->then);
    Py_CLEAR(self->match);
    Py_CLEAR(self->inner);
    return 0;
}

/* One Step per call: keep a few freed ones instead of returning them to the allocator.
 * The GIL guards the list; a free-threaded build does without it. */
#ifdef Py_GIL_DISABLED
#define STEP_FREELIST_SIZE 0
#else
#define STEP_FREELIST_SIZE 16
#endif
static StepObject *step_freelist[STEP_FREELIST_SIZE + 1];
static int step_numfree = 0;

static void
Step_dealloc(StepObject *self)
{
    PyObject_GC_UnTrack(self);
    Step_clear(self);
    if (step_numfree < STEP_FREELIST_SIZE) {
        step_freelist[step_numfree++] = self;
    }
    else {
        PyObject_GC_Del(self);
    }
}

/* Steals `message`. */
static PyObject *
step_new(PyObject *ws, PyObject *call, PyObject *message, PyObject *func, PyObject *data, PyObject *then,
         PyObject *match)
{
    StepObject *self;
    if (step_numfree > 0) {
        self = step_freelist[--step_numfree];
        Py_SET_REFCNT((PyObject *)self, 1);
    }
    else {
        self = PyObject_GC_New(StepObject, &Step_Type);
        if (self == NULL) {
            Py_XDECREF(message);
            return NULL;
        }
    }
    self->ws = Py_NewRef(ws);
    self->call = call; /* already a new reference */
    self->message = message;
    self->func = Py_NewRef(func);
    self->data = Py_XNewRef(data);
    self->then = Py_XNewRef(then);
    self->match = Py_XNewRef(match);
    self->inner = NULL;
    self->started = self->done = self->fast = 0;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* obj.name for an attribute held in a __slots__ slot, read from the slot directly: the type lookup is
 * cached by CPython, so this skips only the generic attribute machinery. Anything else (a property,
 * an empty slot) goes through PyObject_GetAttr, so the result and the errors are the same. */
static PyObject *
slot_get(PyObject *obj, PyObject *name)
{
    PyObject *descr = _PyType_Lookup(Py_TYPE(obj), name);
    if (descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX) {
            PyObject *value = *(PyObject **)((char *)obj + member->offset);
            if (value != NULL) {
                return Py_NewRef(value);
            }
        }
    }
    return PyObject_GetAttr(obj, name);
}

/* The iterator that `await obj` drives. */
static PyObject *
awaitable_iter(PyObject *obj)
{
    if (PyCoro_CheckExact(obj) || PyGen_CheckExact(obj)) {
        return Py_NewRef(obj);
    }
    PyAsyncMethods *am = Py_TYPE(obj)->tp_as_async;
    if (am != NULL && am->am_await != NULL) {
        PyObject *it = am->am_await(obj);
        if (it != NULL && !PyIter_Check(it)) {
            PyErr_Format(PyExc_TypeError, "__await__() returned non-iterator of type '%.100s'", Py_TYPE(it)->tp_name);
            Py_DECREF(it);
            return NULL;
        }
        return it;
    }
    PyErr_Format(PyExc_TypeError, "object %.100s can't be used in 'await' expression", Py_TYPE(obj)->tp_name);
    return NULL;
}

/* Begin: choose the path and create the awaitable it drives. */
static int
step_start(StepObject *self)
{
    self->started = 1;
    int open = 0;
    PyObject *flag = slot_get(self->ws, str_open);
    if (flag == NULL) {
        return -1;
    }
    open = (flag == Py_True) ? 1 : PyObject_IsTrue(flag);
    Py_DECREF(flag);
    if (open < 0) {
        return -1;
    }
    PyObject *awaitable;
    if (open) {
        self->fast = 1;
        awaitable = self->message ? PyObject_CallOneArg(self->call, self->message) : PyObject_CallNoArgs(self->call);
    }
    else {
        /* Not open (any more): the Python method raises the state error, or waits, as the state says. */
        PyObject *fargs[2] = {self->ws, self->data};
        awaitable = PyObject_Vectorcall(self->func, fargs, self->data ? 2 : 1, NULL);
    }
    if (awaitable == NULL) {
        return -1;
    }
    self->inner = awaitable_iter(awaitable);
    Py_DECREF(awaitable);
    return self->inner == NULL ? -1 : 0;
}

/* The exception being raised, taken out of the error indicator (a new reference). */
static PyObject *
raised_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* The awaited call returned `value` (a new reference): what the Step returns. */
static PyObject *
step_result(StepObject *self, PyObject *value)
{
    if (!self->fast || self->match == NULL) {
        return value; /* a send returns None; the generated method's value is final */
    }
    PyObject *message = value;
    if (PyDict_CheckExact(message)) {
        PyObject *mtype = PyTuple_GET_ITEM(self->match, 0);
        PyObject *key = PyTuple_GET_ITEM(self->match, 1);
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(self->match, 2);
        PyObject *other = PyTuple_GET_ITEM(self->match, 3);
        PyObject *payload = PyDict_GetItemWithError(message, key);
        if (payload != NULL && Py_IS_TYPE(payload, cls)) {
            PyObject *rest = PyDict_GetItemWithError(message, other);
            if (rest == NULL && PyErr_Occurred()) {
                goto error;
            }
            if (rest == NULL || rest == Py_None) {
                PyObject *t = PyDict_GetItemWithError(message, str_type);
                if (t != NULL &&
                    (t == mtype || (PyUnicode_CheckExact(t) && PyUnicode_Compare(t, mtype) == 0))) {
                    if (PyTuple_GET_SIZE(self->match) == 4) {
                        Py_INCREF(payload);
                        Py_DECREF(message);
                        return payload;
                    }
                    /* A fifth item names the slot of a converter (receive_json(): ws._json_loads): its
                     * result is the value. If it raises, then(ws, message, error) says why. */
                    PyObject *convert = slot_get(self->ws, PyTuple_GET_ITEM(self->match, 4));
                    if (convert != NULL) {
                        Py_INCREF(payload); /* borrowed from the message, which the call could change */
                        PyObject *value = PyObject_CallOneArg(convert, payload);
                        Py_DECREF(payload);
                        Py_DECREF(convert);
                        if (value != NULL) {
                            Py_DECREF(message);
                            return value;
                        }
                    }
                    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                        goto error;
                    }
                    PyObject *exc = raised_exception();
                    if (exc == NULL) {
                        goto error;
                    }
                    PyObject *eargs[3] = {self->ws, message, exc};
                    PyObject *result = PyObject_Vectorcall(self->then, eargs, 3, NULL);
                    Py_DECREF(exc);
                    Py_DECREF(message);
                    return result;
                }
            }
        }
        if (PyErr_Occurred()) {
            goto error;
        }
    }
    /* The other frame type, a disconnect, or a message the schema does not allow. */
    PyObject *targs[2] = {self->ws, message};
    PyObject *result = PyObject_Vectorcall(self->then, targs, 2, NULL);
    Py_DECREF(message);
    return result;
error:
    Py_DECREF(message);
    return NULL;
}

/* The awaited call raised (the error is set): translate it if this is a send on the fast path. */
static void
step_error(StepObject *self)
{
    if (self->fast && self->match == NULL && PyErr_ExceptionMatches(PyExc_OSError)) {
        /* The server's send() raised OSError (ASGI 2.4): the peer is gone. */
        PyErr_Clear();
        PyObject *exc = PyObject_CallMethodNoArgs(self->ws, str_connection_lost);
        if (exc == NULL) {
            return;
        }
        PyException_SetCause(exc, NULL); /* raise ... from None */
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

static void
step_finish(StepObject *self)
{
    self->done = 1;
    Py_CLEAR(self->inner);
}

static PySendResult
Step_am_send(StepObject *self, PyObject *arg, PyObject **presult)
{
    *presult = NULL;
    if (self->done) {
        PyErr_SetString(PyExc_RuntimeError, "cannot reuse already awaited coroutine");
        return PYGEN_ERROR;
    }
    if (!self->started) {
        if (arg != Py_None) {
            PyErr_SetString(PyExc_TypeError, "can't send non-None value to a just-started coroutine");
            return PYGEN_ERROR;
        }
        if (step_start(self) < 0) {
            step_finish(self);
            return PYGEN_ERROR;
        }
    }
    PyObject *value = NULL;
    PySendResult status = PyIter_Send(self->inner, arg, &value);
    if (status == PYGEN_NEXT) {
        *presult = value;
        return PYGEN_NEXT;
    }
    step_finish(self);
    if (status == PYGEN_ERROR) {
        step_error(self);
        return PYGEN_ERROR;
    }
    *presult = step_result(self, value);
    return *presult == NULL ? PYGEN_ERROR : PYGEN_RETURN;
}

/* Generator protocol on top of am_send: a return becomes StopIteration(value). */
static PyObject *
step_send_protocol(StepObject *self, PyObject *arg)
{
    PyObject *result;
    PySendResult status = Step_am_send(self, arg, &result);
    if (status == PYGEN_RETURN) {
        if (result == Py_None) {
            Py_DECREF(result);
            PyErr_SetNone(PyExc_StopIteration);
        }
        else {
            PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, result);
            Py_DECREF(result);
            if (exc != NULL) {
                PyErr_SetObject(PyExc_StopIteration, exc);
                Py_DECREF(exc);
            }
        }
        return NULL;
    }
    return result;
}

static PyObject *
Step_iternext(StepObject *self)
{
    return step_send_protocol(self, Py_None);
}

static PyObject *
Step_send(StepObject *self, PyObject *arg)
{
    return step_send_protocol(self, arg);
}

/* throw(value) or throw(type[, value[, traceback]]), as a coroutine's. */
static PyObject *
Step_throw(StepObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    if (self->started && !self->done) {
        /* Forward it (a cancellation, say) to what is being awaited. */
        PyObject *meth = PyObject_GetAttr(self->inner, str_throw);
        PyObject *res = NULL;
        if (meth != NULL) {
            res = PyObject_Vectorcall(meth, args, nargs, NULL);
            Py_DECREF(meth);
            if (res != NULL) {
                return res; /* it yielded */
            }
            if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
                PyObject *etype, *evalue, *etb;
                PyErr_Fetch(&etype, &evalue, &etb);
                PyErr_NormalizeException(&etype, &evalue, &etb);
                PyObject *value = evalue ? PyObject_GetAttrString(evalue, "value") : Py_NewRef(Py_None);
                Py_XDECREF(etype);
                Py_XDECREF(evalue);
                Py_XDECREF(etb);
                step_finish(self);
                if (value == NULL) {
                    return NULL;
                }
                PyObject *result = step_result(self, value);
                if (result != NULL) {
                    PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, result);
                    Py_DECREF(result);
                    if (exc != NULL) {
                        PyErr_SetObject(PyExc_StopIteration, exc);
                        Py_DECREF(exc);
                    }
                }
                return NULL;
            }
            step_finish(self);
            step_error(self);
            return NULL;
        }
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            step_finish(self);
            return NULL;
        }
        PyErr_Clear(); /* an iterator with no throw(): raise here, as `yield from` does */
    }
    step_finish(self);
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : Py_None;
    PyObject *tb = nargs > 2 ? args[2] : Py_None;
    if (PyExceptionInstance_Check(typ)) {
        if (val != Py_None) {
            PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
            return NULL;
        }
        val = typ;
        typ = (PyObject *)Py_TYPE(val);
    }
    else if (!PyExceptionClass_Check(typ)) {
        PyErr_Format(PyExc_TypeError, "exceptions must be classes or instances deriving from BaseException, not %s",
                     Py_TYPE(typ)->tp_name);
        return NULL;
    }
    if (tb != Py_None && PyExceptionInstance_Check(val)) {
        PyException_SetTraceback(val, tb);
    }
    PyErr_SetObject(typ, val == Py_None ? NULL : val);
    return NULL;
}

static PyObject *
Step_close(StepObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *inner = self->inner;
    int running = self->started && !self->done && inner != NULL;
    if (running) {
        Py_INCREF(inner);
    }
    step_finish(self);
    if (running) {
        PyObject *meth = PyObject_GetAttr(inner, str_close);
        Py_DECREF(inner);
        if (meth == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                return NULL;
            }
            PyErr_Clear();
        }
        else {
            PyObject *res = PyObject_CallNoArgs(meth);
            Py_DECREF(meth);
            if (res == NULL) {
                return NULL;
            }
            Py_DECREF(res);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
Step_await(StepObject *self)
{
    return Py_NewRef(self);
}

static PyMethodDef Step_methods[] = {
    {"send", (PyCFunction)Step_send, METH_O, "Send a value into the awaitable."},
    {"throw", (PyCFunction)(void (*)(void))Step_throw, METH_FASTCALL, "Raise an exception in the awaitable."},
    {"close", (PyCFunction)Step_close, METH_NOARGS, "Close the awaitable."},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods Step_as_async = {
    .am_await = (unaryfunc)Step_await,
    .am_send = (sendfunc)Step_am_send,
};

static PyTypeObject Step_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fastware._speedups.Step",
    .tp_basicsize = sizeof(StepObject),
    .tp_dealloc = (destructor)Step_dealloc,
    .tp_as_async = &Step_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The awaitable a hot WebSocket method returns; it behaves as the coroutine of the async def.",
    .tp_traverse = (traverseproc)Step_traverse,
    .tp_clear = (inquiry)Step_clear,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Step_iternext,
    .tp_methods = Step_methods,
};

/* HotMethod: a method descriptor around a generated `async def` method, whose common case it runs in C.
 *
 * Calling it with the arguments of the fast path returns a Step; with any other arguments it calls
 * the Python method, which returns its coroutine. __wrapped__, __doc__ and the names are the Python
 * method's, so inspect.signature() and help() show the generated signature and docs.
 */
typedef struct {
    PyObject_HEAD
    PyObject *func;     /* the generated async def */
    PyObject *key;      /* send: the payload key */
    PyObject *cls;      /* send: the payload type */
    PyObject *then;     /* receive: then(ws, message) */
    PyObject *match;    /* receive: (type, key, payload type, other key) */
    PyObject *template; /* send: {"type": the message type, key: None}, built once */
    PyObject *dict;     /* __dict__, for asyncio's coroutine-function marker and the like */
    vectorcallfunc vectorcall;
} HotMethodObject;

static int
HotMethod_traverse(HotMethodObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->func);
    Py_VISIT(self->key);
    Py_VISIT(self->cls);
    Py_VISIT(self->then);
    Py_VISIT(self->match);
    Py_VISIT(self->template);
    Py_VISIT(self->dict);
    return 0;
}

static int
HotMethod_clear(HotMethodObject *self)
{
    Py_CLEAR(self->func);
    Py_CLEAR(self->key);
    Py_CLEAR(self->cls);
    Py_CLEAR(self->then);
    Py_CLEAR(self->match);
    Py_CLEAR(self->template);
    Py_CLEAR(self->dict);
    return 0;
}

static void
HotMethod_dealloc(HotMethodObject *self)
{
    PyObject_GC_UnTrack(self);
    HotMethod_clear(self);
    PyObject_GC_Del(self);
}

static PyObject *
send_vectorcall(HotMethodObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 2 && kwnames == NULL && Py_IS_TYPE(args[1], (PyTypeObject *)self->cls)) {
        PyObject *ws = args[0];
        PyObject *call = slot_get(ws, str_send);
        if (call == NULL) {
            return NULL;
        }
        /* Copying the template clones its two-key table in one go; then only the payload is set. */
        PyObject *message = PyDict_Copy(self->template);
        if (message == NULL || PyDict_SetItem(message, self->key, args[1]) < 0) {
            Py_XDECREF(message);
            Py_DECREF(call);
            return NULL;
        }
        return step_new(ws, call, message, self->func, args[1], NULL, NULL);
    }
    return PyObject_Vectorcall(self->func, args, nargsf, kwnames);
}

static PyObject *
receive_vectorcall(HotMethodObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 1 && (kwnames == NULL || (PyTuple_GET_SIZE(kwnames) == 1 && args[1] == Py_None &&
                                           PyTuple_GET_ITEM(kwnames, 0) == str_timeout))) {
        PyObject *ws = args[0];
        PyObject *call = slot_get(ws, str_receive);
        if (call == NULL) {
            return NULL;
        }
        return step_new(ws, call, NULL, self->func, NULL, self->then, self->match);
    }
    return PyObject_Vectorcall(self->func, args, nargsf, kwnames);
}

static PyObject *
HotMethod_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return PyVectorcall_Call(self, args, kwargs);
}

static PyObject *
HotMethod_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        return Py_NewRef(self);
    }
    return PyMethod_New(self, obj);
}

static PyObject *
HotMethod_getattro(HotMethodObject *self, PyObject *name)
{
    PyObject *value = PyObject_GenericGetAttr((PyObject *)self, name);
    if (value == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        /* __name__, __qualname__, __module__, __annotations__, ...: the Python method's. */
        PyErr_Clear();
        value = PyObject_GetAttr(self->func, name);
    }
    return value;
}

static PyObject *
HotMethod_get_doc(HotMethodObject *self, void *closure)
{
    return PyObject_GetAttrString(self->func, "__doc__");
}

static PyObject *
HotMethod_get_wrapped(HotMethodObject *self, void *closure)
{
    return Py_NewRef(self->func);
}

static PyObject *
HotMethod_repr(HotMethodObject *self)
{
    return PyUnicode_FromFormat("<fastware hot method %R>", self->func);
}

static PyGetSetDef HotMethod_getset[] = {
    {"__doc__", (getter)HotMethod_get_doc, NULL, NULL, NULL},
    {"__wrapped__", (getter)HotMethod_get_wrapped, NULL, NULL, NULL},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL},
};

static PyTypeObject HotMethod_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fastware._speedups.HotMethod",
    .tp_basicsize = sizeof(HotMethodObject),
    .tp_dealloc = (destructor)HotMethod_dealloc,
    .tp_vectorcall_offset = offsetof(HotMethodObject, vectorcall),
    .tp_repr = (reprfunc)HotMethod_repr,
    .tp_call = HotMethod_call,
    .tp_getattro = (getattrofunc)HotMethod_getattro,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_traverse = (traverseproc)HotMethod_traverse,
    .tp_clear = (inquiry)HotMethod_clear,
    .tp_getset = HotMethod_getset,
    .tp_descr_get = HotMethod_get,
    .tp_dictoffset = offsetof(HotMethodObject, dict),
};

static HotMethodObject *
hot_new(PyObject *func, vectorcallfunc vectorcall)
{
    if (!PyCallable_Check(func)) {
        PyErr_SetString(PyExc_TypeError, "the method must be callable");
        return NULL;
    }
    HotMethodObject *self = PyObject_GC_New(HotMethodObject, &HotMethod_Type);
    if (self == NULL) {
        return NULL;
    }
    self->func = Py_NewRef(func);
    self->key = self->cls = self->then = self->match = self->template = self->dict = NULL;
    self->vectorcall = vectorcall;
    return self;
}

/* send_method(func, type, key, payload_type) */
static PyObject *
send_method(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyUnicode_CheckExact(args[1]) || !PyUnicode_CheckExact(args[2]) || !PyType_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "send_method(func, type: str, key: str, payload_type: type)");
        return NULL;
    }
    HotMethodObject *self = hot_new(args[0], (vectorcallfunc)send_vectorcall);
    if (self == NULL) {
        return NULL;
    }
    self->key = Py_NewRef(args[2]);
    self->cls = Py_NewRef(args[3]);
    self->template = PyDict_New();
    if (self->template == NULL || PyDict_SetItem(self->template, str_type, args[1]) < 0 ||
        PyDict_SetItem(self->template, self->key, Py_None) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* receive_method(func, then, (type, key, payload_type, other_key[, convert_slot])) */
static PyObject *
receive_method(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *match = nargs == 3 ? args[2] : NULL;
    if (match == NULL || !PyCallable_Check(args[1]) || !PyTuple_CheckExact(match) ||
        (PyTuple_GET_SIZE(match) != 4 && PyTuple_GET_SIZE(match) != 5) ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(match, 0)) || !PyUnicode_CheckExact(PyTuple_GET_ITEM(match, 1)) ||
        !PyType_Check(PyTuple_GET_ITEM(match, 2)) || !PyUnicode_CheckExact(PyTuple_GET_ITEM(match, 3)) ||
        (PyTuple_GET_SIZE(match) == 5 && !PyUnicode_CheckExact(PyTuple_GET_ITEM(match, 4)))) {
        PyErr_SetString(PyExc_TypeError, "receive_method(func, then, (type: str, key: str, payload_type: type, "
                                         "other_key: str[, convert_slot: str]))");
        return NULL;
    }
    HotMethodObject *self = hot_new(args[0], (vectorcallfunc)receive_vectorcall);
    if (self == NULL) {
        return NULL;
    }
    self->then = Py_NewRef(args[1]);
    self->match = Py_NewRef(match);
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyMethodDef module_methods[] = {
    {"send_method", (PyCFunction)(void (*)(void))send_method, METH_FASTCALL,
     "send_method(func, type, key, payload_type): func, with its common case in C."},
    {"receive_method", (PyCFunction)(void (*)(void))receive_method, METH_FASTCALL,
     "receive_method(func, then, (type, key, payload_type, other_key)): func, with its common case in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "fastware._speedups",
    .m_doc = "The C fast path of the hot send and receive methods; loaded by fastware/_accel.py.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&Step_Type) < 0 || PyType_Ready(&HotMethod_Type) < 0) {
        return NULL;
    }
    str_open = PyUnicode_InternFromString("_open");
    str_connection_lost = PyUnicode_InternFromString("_connection_lost");
    str_type = PyUnicode_InternFromString("type");
    str_throw = PyUnicode_InternFromString("throw");
    str_close = PyUnicode_InternFromString("close");
    str_send = PyUnicode_InternFromString("_send");
    str_receive = PyUnicode_InternFromString("_receive");
    str_timeout = PyUnicode_InternFromString("timeout");
    if (!str_open || !str_connection_lost || !str_type || !str_throw || !str_close || !str_send || !str_receive ||
        !str_timeout) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(m, "Step", (PyObject *)&Step_Type) < 0 ||
        PyModule_AddObjectRef(m, "HotMethod", (PyObject *)&HotMethod_Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
