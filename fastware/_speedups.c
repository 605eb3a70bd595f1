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
 *
 * An encoding method (send_json) encodes its argument when called, in C, and returns the Step its
 * sender (send_text) would return for the result; any case it does not take goes to the Python method.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
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
    char fast;    /* started on the fast path: read the result, translate OSError */
    char running; /* inside send()/throw()/close(): Python code it calls must not re-enter it */
} StepObject;

static PyTypeObject Step_Type;
static PyObject *str_connection_lost, *str_type, *str_throw, *str_close, *str_timeout, *str_value;

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
    /* A Step the garbage collector cleared can still be reached by a finalizer: it then acts as
     * finished instead of using the members just cleared. */
    self->done = 1;
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
    self->started = self->done = self->fast = self->running = 0;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* The attributes the hot path reads (_open, _send, _receive), which WebSocket keeps in __slots__.
 * PyObject_GetAttr() costs about 120 instructions a read more than reading the slot (measured on
 * 3.11 with cachegrind: 4,855 -> 5,329 instructions per text echo), so the slot is read at its
 * offset when that is known to be what the attribute lookup would do:
 *
 *  - the offset comes from the member descriptor the instance lookup finds in the type's MRO, and is
 *    trusted only for objects that descriptor applies to (PyObject_TypeCheck on the descriptor's
 *    class, the check member_get itself makes): a test double holding another class's slot
 *    descriptor is never read out of bounds, it runs the Python method, which raises Python's
 *    TypeError;
 *  - it is cached per attribute for one exact type and that type's tp_version_tag, which CPython
 *    resets whenever the type or a base changes (PyType_Modified), so a property put on the class
 *    later is seen at once.
 *
 * The hot methods use slot_peek() when called (any other object runs the Python method) and the Step
 * reads _open with slot_get(), which falls back to PyObject_GetAttr. Private API: none. tp_version_tag
 * is a PyTypeObject field the docs mark "for internal use", used because no public API tells that a
 * type changed on every version (type watchers are 3.12+, and few per interpreter); its meaning
 * (0 = none, reset to 0 by PyType_Modified, never reused) was checked in the sources of 3.11.7, 3.12.1
 * and 3.13.0. A free-threaded build has no cache (no GIL to guard it): it runs the Python methods. */
typedef struct {
    PyObject *name;
    PyTypeObject *type; /* strong reference; NULL: nothing cached */
    unsigned int version;
    Py_ssize_t offset;
} SlotCache;

static SlotCache cache_open, cache_send, cache_receive, cache_convert;

#if PY_VERSION_HEX >= 0x030C0000
#define MEMBER_OBJECT_EX Py_T_OBJECT_EX
#else
#define MEMBER_OBJECT_EX T_OBJECT_EX
#endif

/* What the instance attribute lookup finds for `name` on `type`: the first entry of the MRO's class
 * dicts, as the private _PyType_Lookup finds it. A new reference, or NULL with or without an error. */
static PyObject *
mro_lookup(PyTypeObject *type, PyObject *name)
{
    PyObject *mro = Py_XNewRef(type->tp_mro); /* a key's __eq__ could assign __bases__ meanwhile */
    PyObject *found = NULL;
    if (mro == NULL || !PyTuple_Check(mro)) {
        Py_XDECREF(mro);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro) && found == NULL; i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *dict = PyType_GetDict(base); /* a static builtin type's tp_dict is NULL from 3.12 */
#else
        PyObject *dict = Py_XNewRef(base->tp_dict);
#endif
        if (dict != NULL) {
            found = Py_XNewRef(PyDict_GetItemWithError(dict, name));
            Py_DECREF(dict);
            if (found == NULL && PyErr_Occurred()) {
                break;
            }
        }
    }
    Py_DECREF(mro);
    return found;
}

/* Learn the offset of cache->name for objects of obj's exact type, if it is a plain __slots__ slot. */
static void
slot_cache_fill(SlotCache *cache, PyObject *obj)
{
    PyTypeObject *type = Py_TYPE(obj);
    unsigned int version = type->tp_version_tag; /* read first: a change during the lookup makes it stale */
    PyObject *descr = mro_lookup(type, cache->name);
    if (descr == NULL) {
        PyErr_Clear();
        return;
    }
    if (version != 0 && Py_IS_TYPE(descr, &PyMemberDescr_Type) && PyObject_TypeCheck(obj, PyDescr_TYPE(descr))) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == MEMBER_OBJECT_EX) {
            Py_XSETREF(cache->type, (PyTypeObject *)Py_NewRef(type));
            cache->version = version;
            cache->offset = member->offset;
        }
    }
    Py_DECREF(descr);
}

static PyObject *
slot_get(PyObject *obj, SlotCache *cache)
{
#ifndef Py_GIL_DISABLED
    PyTypeObject *type = Py_TYPE(obj);
    if (type == cache->type && type->tp_version_tag == cache->version) {
        PyObject *value = *(PyObject **)((char *)obj + cache->offset);
        if (value != NULL) {
            return Py_NewRef(value);
        }
    }
    PyObject *value = PyObject_GetAttr(obj, cache->name);
    if (value != NULL) {
        /* Only after a successful read: what fails is reported by PyObject_GetAttr, every time. */
        slot_cache_fill(cache, obj);
    }
    return value;
#else
    return PyObject_GetAttr(obj, cache->name);
#endif
}

/* obj.name read at its slot when obj's exact type is known to keep it there (the cache is filled on
 * the way), else NULL with no error: the caller then runs the Python method, which reads the attribute
 * itself, raising what Python raises when Python would raise it. */
static PyObject *
slot_peek(PyObject *obj, SlotCache *cache)
{
#ifndef Py_GIL_DISABLED
    PyTypeObject *type = Py_TYPE(obj);
    if (type != cache->type || type->tp_version_tag != cache->version) {
        slot_cache_fill(cache, obj);
        if (type != cache->type || type->tp_version_tag != cache->version) {
            return NULL;
        }
    }
    return Py_XNewRef(*(PyObject **)((char *)obj + cache->offset));
#else
    return NULL;
#endif
}

/* A coroutine, or a generator made one by @types.coroutine: what `await` drives as it is. */
static int
is_coroutine(PyObject *obj)
{
    if (PyCoro_CheckExact(obj)) {
        return 1;
    }
    if (PyGen_CheckExact(obj)) {
#if PY_VERSION_HEX >= 0x030C0000
        PyCodeObject *code = PyGen_GetCode((PyGenObject *)obj);
        int flags = code->co_flags;
        Py_DECREF(code);
#else
        int flags = ((PyGenObject *)obj)->gi_code->co_flags; /* 3.11 has no PyGen_GetCode */
#endif
        return (flags & CO_ITERABLE_COROUTINE) != 0;
    }
    return 0;
}

/* The iterator that `await obj` drives, with the errors `await` raises (the same on 3.11-3.13). */
static PyObject *
awaitable_iter(PyObject *obj)
{
    if (is_coroutine(obj)) {
        return Py_NewRef(obj);
    }
    PyAsyncMethods *am = Py_TYPE(obj)->tp_as_async;
    if (am != NULL && am->am_await != NULL) {
        PyObject *it = am->am_await(obj);
        if (it == NULL) {
            return NULL;
        }
        if (is_coroutine(it)) {
            PyErr_SetString(PyExc_TypeError, "__await__() returned a coroutine");
            Py_DECREF(it);
            return NULL;
        }
        if (!PyIter_Check(it)) {
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
    PyObject *flag = slot_get(self->ws, &cache_open);
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

/* The awaited call returned `value` (a new reference): what the Step returns.
 *
 * Each value read from the message is held by a strong reference before the next lookup: a lookup
 * can run Python code (a key's __eq__, when hashes collide) that removes it from the dict. */
static PyObject *
step_result(StepObject *self, PyObject *value)
{
    if (!self->fast) {
        return value; /* the generated method's value is final */
    }
    if (self->match == NULL) {
        Py_DECREF(value); /* a send returns None, whatever the server's send() returned */
        Py_RETURN_NONE;
    }
    PyObject *message = value;
    PyObject *match = Py_NewRef(self->match);
    PyObject *payload = NULL, *rest = NULL, *t = NULL, *result = NULL;
    if (PyDict_CheckExact(message)) {
        PyObject *mtype = PyTuple_GET_ITEM(match, 0);
        PyObject *key = PyTuple_GET_ITEM(match, 1);
        PyTypeObject *cls = (PyTypeObject *)PyTuple_GET_ITEM(match, 2);
        PyObject *other = PyTuple_GET_ITEM(match, 3);
        payload = Py_XNewRef(PyDict_GetItemWithError(message, key));
        if (payload != NULL && Py_IS_TYPE(payload, cls)) {
            rest = Py_XNewRef(PyDict_GetItemWithError(message, other));
            if (rest == NULL && PyErr_Occurred()) {
                goto done;
            }
            if (rest == NULL || rest == Py_None) {
                t = Py_XNewRef(PyDict_GetItemWithError(message, str_type));
                if (t != NULL &&
                    (t == mtype || (PyUnicode_CheckExact(t) && PyUnicode_Compare(t, mtype) == 0))) {
                    if (PyTuple_GET_SIZE(match) == 4) {
                        result = Py_NewRef(payload);
                        goto done;
                    }
                    /* A fifth item names the attribute holding a converter (receive_json(): ws._json_loads):
                     * its result is the value. If it raises an Exception, then(ws, message, error) says why.
                     * Read at its slot when that is what the lookup does (slot_get). `payload` is a strong
                     * reference here. */
                    PyObject *name = PyTuple_GET_ITEM(match, 4);
                    PyObject *convert = name == cache_convert.name ? slot_get(self->ws, &cache_convert)
                                                                   : PyObject_GetAttr(self->ws, name);
                    if (convert != NULL) {
                        result = PyObject_CallOneArg(convert, payload);
                        Py_DECREF(convert);
                        if (result != NULL) {
                            goto done;
                        }
                    }
                    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                        goto done;
                    }
                    PyObject *exc = raised_exception();
                    if (exc == NULL) {
                        goto done;
                    }
                    PyObject *then = Py_NewRef(self->then);
                    PyObject *eargs[3] = {self->ws, message, exc};
                    result = PyObject_Vectorcall(then, eargs, 3, NULL);
                    Py_DECREF(then);
                    Py_DECREF(exc);
                    goto done;
                }
            }
        }
        if (PyErr_Occurred()) {
            goto done;
        }
    }
    /* The other frame type, a disconnect, or a message the schema does not allow. */
    PyObject *targs[2] = {self->ws, message};
    result = PyObject_Vectorcall(self->then, targs, 2, NULL);
done:
    Py_XDECREF(payload);
    Py_XDECREF(rest);
    Py_XDECREF(t);
    Py_DECREF(match);
    Py_DECREF(message);
    return result;
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

/* Python code a Step calls (the server's send or receive, the awaitable they return, `then`) may hold
 * the Step and call its send(), throw() or close(): refused, as a running coroutine refuses them. */
static int
step_refuse_reentry(StepObject *self)
{
    if (self->running) {
        PyErr_SetString(PyExc_ValueError, "coroutine already executing");
        return -1;
    }
    return 0;
}

static PySendResult
step_send(StepObject *self, PyObject *arg, PyObject **presult)
{
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
            step_error(self); /* the server's send() raised OSError when called, not when awaited */
            return PYGEN_ERROR;
        }
    }
    PyObject *value = NULL;
    PyObject *inner = Py_NewRef(self->inner);
    PySendResult status = PyIter_Send(inner, arg, &value);
    Py_DECREF(inner);
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

static PySendResult
Step_am_send(StepObject *self, PyObject *arg, PyObject **presult)
{
    *presult = NULL;
    if (step_refuse_reentry(self) < 0) {
        return PYGEN_ERROR;
    }
    Py_INCREF(self); /* what it calls may drop the last other reference to it */
    self->running = 1;
    PySendResult status = step_send(self, arg, presult);
    self->running = 0;
    Py_DECREF(self);
    return status;
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

/* The value of the StopIteration being raised (the error is set and matches it); clears it. */
static PyObject *
fetch_stop_iteration_value(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException(); /* PyErr_Fetch is deprecated from 3.12 */
    PyObject *value = PyObject_GetAttr(exc, str_value);
    Py_DECREF(exc);
    return value;
#else
    PyObject *etype, *evalue, *etb;
    PyErr_Fetch(&etype, &evalue, &etb);
    PyErr_NormalizeException(&etype, &evalue, &etb);
    PyObject *value = evalue ? PyObject_GetAttr(evalue, str_value) : Py_NewRef(Py_None);
    Py_XDECREF(etype);
    Py_XDECREF(evalue);
    Py_XDECREF(etb);
    return value;
#endif
}

/* Raise throw()'s arguments here: the Step has nothing running to throw them into. */
static PyObject *
step_raise(PyObject *const *args, Py_ssize_t nargs)
{
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
step_throw(StepObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (self->started && !self->done) {
        /* Forward it (a cancellation, say) to what is being awaited. */
        PyObject *inner = Py_NewRef(self->inner);
        PyObject *meth = PyObject_GetAttr(inner, str_throw);
        Py_DECREF(inner);
        if (meth != NULL) {
            PyObject *res = PyObject_Vectorcall(meth, args, nargs, NULL);
            Py_DECREF(meth);
            if (res != NULL) {
                return res; /* it yielded */
            }
            if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
                PyObject *value = fetch_stop_iteration_value();
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
    return step_raise(args, nargs);
}

/* throw(value) or throw(type[, value[, traceback]]), as a coroutine's. */
static PyObject *
Step_throw(StepObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw expected 1 to 3 arguments");
        return NULL;
    }
    if (step_refuse_reentry(self) < 0) {
        return NULL;
    }
    Py_INCREF(self);
    self->running = 1;
    PyObject *result = step_throw(self, args, nargs);
    self->running = 0;
    Py_DECREF(self);
    return result;
}

static PyObject *
Step_close(StepObject *self, PyObject *Py_UNUSED(ignored))
{
    if (step_refuse_reentry(self) < 0) {
        return NULL;
    }
    PyObject *inner = Py_XNewRef(self->inner);
    int suspended = self->started && !self->done && inner != NULL;
    step_finish(self);
    if (suspended) {
        /* Close what it awaits (a GeneratorExit into the server's coroutine), as a coroutine would. */
        Py_INCREF(self);
        self->running = 1;
        PyObject *meth = PyObject_GetAttr(inner, str_close);
        PyObject *res = NULL;
        if (meth == NULL) {
            if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
                PyErr_Clear();
                res = Py_NewRef(Py_None);
            }
        }
        else {
            res = PyObject_CallNoArgs(meth);
            Py_DECREF(meth);
        }
        self->running = 0;
        Py_DECREF(self);
        Py_DECREF(inner);
        if (res == NULL) {
            return NULL;
        }
        Py_DECREF(res);
    }
    else {
        Py_XDECREF(inner);
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
    /* An encoding method (see encode_method): */
    PyObject *sender;      /* the send HotMethod whose message it sends */
    PyObject *sender_name; /* the attribute that must find `sender` for the C path to bypass it */
    PyObject *encode;      /* encode(data, *extra) -> bytes */
    PyObject *extra;       /* a tuple */
    PyObject *needle;      /* bytes: an encoding that holds it is passed through check() */
    PyObject *check;       /* check(data, text) -> text */
    PyTypeObject *sender_type; /* strong reference: the exact type known to find `sender`, */
    unsigned int sender_version; /* at this tp_version_tag */
    SlotCache override;    /* the attribute that must be None (ws._json_dumps: no encoder given) */
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
    Py_VISIT(self->sender);
    Py_VISIT(self->sender_name);
    Py_VISIT(self->encode);
    Py_VISIT(self->extra);
    Py_VISIT(self->needle);
    Py_VISIT(self->check);
    Py_VISIT(self->sender_type);
    Py_VISIT(self->override.type);
    Py_VISIT(self->override.name);
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
    Py_CLEAR(self->sender);
    Py_CLEAR(self->sender_name);
    Py_CLEAR(self->encode);
    Py_CLEAR(self->extra);
    Py_CLEAR(self->needle);
    Py_CLEAR(self->check);
    Py_CLEAR(self->sender_type);
    Py_CLEAR(self->override.type);
    Py_CLEAR(self->override.name);
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
    if (self->func == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this fastware hot method was cleared by the garbage collector");
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 2 && kwnames == NULL && Py_IS_TYPE(args[1], (PyTypeObject *)self->cls)) {
        PyObject *ws = args[0];
        PyObject *call = slot_peek(ws, &cache_send);
        if (call == NULL) {
            goto python; /* not a WebSocket, or a subclass that changes _send: the Python method */
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
python:
    return PyObject_Vectorcall(self->func, args, nargsf, kwnames);
}

static PyObject *
receive_vectorcall(HotMethodObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (self->func == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this fastware hot method was cleared by the garbage collector");
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 1 && (kwnames == NULL || (PyTuple_GET_SIZE(kwnames) == 1 && args[1] == Py_None &&
                                           PyTuple_GET_ITEM(kwnames, 0) == str_timeout))) {
        PyObject *ws = args[0];
        PyObject *call = slot_peek(ws, &cache_receive);
        if (call != NULL) {
            return step_new(ws, call, NULL, self->func, NULL, self->then, self->match);
        }
    }
    return PyObject_Vectorcall(self->func, args, nargsf, kwnames);
}

/* Whether ws.<sender_name> finds self->sender, as the Python method's `self.send_text` would: known
 * for an exact type at its tp_version_tag (cached), looked up for an instance with a __dict__. A
 * subclass that overrides the sender, or a type with its own attribute lookup, takes the Python path. */
static int
sender_found(HotMethodObject *self, PyObject *ws)
{
    PyTypeObject *type = Py_TYPE(ws);
    if (type->tp_getattro != PyObject_GenericGetAttr) {
        return 0;
    }
    if (type->tp_dictoffset != 0) {
        /* The instance dict may shadow the method: ask as Python asks (rare: WebSocket has __slots__). */
        PyObject *bound = PyObject_GetAttr(ws, self->sender_name);
        if (bound == NULL) {
            PyErr_Clear();
            return 0;
        }
        int found = PyMethod_Check(bound) && PyMethod_GET_FUNCTION(bound) == self->sender &&
                    PyMethod_GET_SELF(bound) == ws;
        Py_DECREF(bound);
        return found;
    }
#ifndef Py_GIL_DISABLED
    if (type == self->sender_type && type->tp_version_tag == self->sender_version) {
        return 1;
    }
    unsigned int version = type->tp_version_tag; /* read first: a change during the lookup makes it stale */
    PyObject *descr = mro_lookup(type, self->sender_name);
    if (descr == NULL) {
        PyErr_Clear();
        return 0;
    }
    int found = descr == self->sender;
    Py_DECREF(descr);
    if (found && version != 0) {
        Py_XSETREF(self->sender_type, (PyTypeObject *)Py_NewRef(type));
        self->sender_version = version;
    }
    return found;
#else
    return 0;
#endif
}

/* Whether the `size` bytes at `data` hold `needle`. */
static int
bytes_hold(const char *data, Py_ssize_t size, PyObject *needle)
{
    const char *want = PyBytes_AS_STRING(needle);
    Py_ssize_t n = PyBytes_GET_SIZE(needle);
    if (n == 0) {
        return 1;
    }
    const char *end = data + size - n;
    for (const char *p = data; p <= end; p++) {
        p = memchr(p, want[0], (size_t)(end - p) + 1);
        if (p == NULL) {
            return 0;
        }
        if (memcmp(p, want, (size_t)n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The text encode() gives for data, or NULL: with an error set only if it is not an Exception (the
 * Python method, called next, encodes again and reports any Exception as it always does). */
static PyObject *
encode_text(HotMethodObject *self, PyObject *data)
{
    PyObject *extra = Py_NewRef(self->extra);
    PyObject *eargs[5];
    Py_ssize_t n = PyTuple_GET_SIZE(extra);
    eargs[0] = data;
    for (Py_ssize_t i = 0; i < n; i++) {
        eargs[i + 1] = PyTuple_GET_ITEM(extra, i);
    }
    PyObject *encode = Py_NewRef(self->encode);
    PyObject *out = PyObject_Vectorcall(encode, eargs, n + 1, NULL);
    Py_DECREF(encode);
    Py_DECREF(extra);
    PyObject *text = NULL;
    if (out != NULL && PyBytes_CheckExact(out)) {
        text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out), NULL);
        if (text != NULL && bytes_hold(PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out), self->needle)) {
            PyObject *check = Py_NewRef(self->check);
            PyObject *cargs[2] = {data, text};
            PyObject *checked = PyObject_Vectorcall(check, cargs, 2, NULL);
            Py_DECREF(check);
            Py_SETREF(text, checked);
            if (text != NULL && !PyUnicode_CheckExact(text)) {
                Py_CLEAR(text);
            }
        }
    }
    Py_XDECREF(out);
    if (text == NULL && PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear();
    }
    return text;
}

static PyObject *
encode_vectorcall(HotMethodObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (self->func == NULL || self->sender == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this fastware hot method was cleared by the garbage collector");
        return NULL;
    }
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs == 2 && kwnames == NULL) {
        PyObject *ws = args[0];
        PyObject *data = args[1];
        PyObject *given = slot_peek(ws, &self->override);
        if (given == NULL || given != Py_None || !sender_found(self, ws)) {
            Py_XDECREF(given);
            goto python; /* an encoder given, or a subclass's own sender: the Python method */
        }
        Py_DECREF(given);
        /* The caller holds ws and data for the call; the sender is held while its fields are used. */
        HotMethodObject *sender = (HotMethodObject *)Py_NewRef(self->sender);
        PyObject *text = encode_text(self, data);
        if (text == NULL) {
            Py_DECREF(sender);
            if (PyErr_Occurred()) {
                return NULL;
            }
            goto python; /* refused, or needing the exact rendering: the Python method says what */
        }
        /* Read again after encoding: the encoder may have run Python code (a model's serializer). */
        PyObject *call = slot_peek(ws, &cache_send);
        if (call == NULL || sender->template == NULL || !Py_IS_TYPE(text, (PyTypeObject *)sender->cls) ||
            !sender_found(self, ws)) {
            Py_XDECREF(call);
            Py_DECREF(text);
            Py_DECREF(sender);
            goto python;
        }
        PyObject *message = PyDict_Copy(sender->template);
        if (message == NULL || PyDict_SetItem(message, sender->key, text) < 0) {
            Py_XDECREF(message);
            Py_DECREF(call);
            Py_DECREF(text);
            Py_DECREF(sender);
            return NULL;
        }
        /* Not open when awaited: the Step calls func(ws, data), which encodes again and awaits the sender. */
        PyObject *step = step_new(ws, call, message, self->func, data, NULL, NULL);
        Py_DECREF(text);
        Py_DECREF(sender);
        return step;
    }
python:
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
    self->sender = self->sender_name = self->encode = self->extra = self->needle = self->check = NULL;
    self->sender_type = NULL;
    self->sender_version = 0;
    self->override.name = NULL;
    self->override.type = NULL;
    self->override.version = 0;
    self->override.offset = 0;
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

/* encode_method(func, sender, sender_name, override_slot, encode, extra, needle, check):
 * func(ws, data) (send_json) with its common case in C: when ws.<override_slot> is None and
 * ws.<sender_name> is `sender` (a send_method), encode(data, *extra) gives UTF-8 bytes, and the text
 * (check(data, text) if the bytes hold `needle`) is sent as sender would send it. */
static PyObject *
encode_method(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8 || !Py_IS_TYPE(args[1], &HotMethod_Type) ||
        ((HotMethodObject *)args[1])->vectorcall != (vectorcallfunc)send_vectorcall || !PyUnicode_CheckExact(args[2]) ||
        !PyUnicode_CheckExact(args[3]) || !PyCallable_Check(args[4]) || !PyTuple_CheckExact(args[5]) ||
        PyTuple_GET_SIZE(args[5]) > 4 || !PyBytes_CheckExact(args[6]) || !PyCallable_Check(args[7])) {
        PyErr_SetString(PyExc_TypeError, "encode_method(func, sender: send_method, sender_name: str, override_slot: "
                                         "str, encode, extra: tuple (at most 4), needle: bytes, check)");
        return NULL;
    }
    HotMethodObject *self = hot_new(args[0], (vectorcallfunc)encode_vectorcall);
    if (self == NULL) {
        return NULL;
    }
    self->sender = Py_NewRef(args[1]);
    self->sender_name = Py_NewRef(args[2]);
    self->override.name = Py_NewRef(args[3]);
    self->encode = Py_NewRef(args[4]);
    self->extra = Py_NewRef(args[5]);
    self->needle = Py_NewRef(args[6]);
    self->check = Py_NewRef(args[7]);
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyMethodDef module_methods[] = {
    {"send_method", (PyCFunction)(void (*)(void))send_method, METH_FASTCALL,
     "send_method(func, type, key, payload_type): func, with its common case in C."},
    {"receive_method", (PyCFunction)(void (*)(void))receive_method, METH_FASTCALL,
     "receive_method(func, then, (type, key, payload_type, other_key)): func, with its common case in C."},
    {"encode_method", (PyCFunction)(void (*)(void))encode_method, METH_FASTCALL,
     "encode_method(func, sender, sender_name, override_slot, encode, extra, needle, check): func, with its "
     "common case in C."},
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
    cache_open.name = PyUnicode_InternFromString("_open");
    cache_send.name = PyUnicode_InternFromString("_send");
    cache_receive.name = PyUnicode_InternFromString("_receive");
    cache_convert.name = PyUnicode_InternFromString("_json_loads");
    str_connection_lost = PyUnicode_InternFromString("_connection_lost");
    str_type = PyUnicode_InternFromString("type");
    str_throw = PyUnicode_InternFromString("throw");
    str_close = PyUnicode_InternFromString("close");
    str_timeout = PyUnicode_InternFromString("timeout");
    str_value = PyUnicode_InternFromString("value");
    if (!cache_open.name || !cache_send.name || !cache_receive.name || !cache_convert.name || !str_connection_lost || !str_type ||
        !str_throw || !str_close || !str_timeout || !str_value) {
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
