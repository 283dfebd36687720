// CPython's C API, imported only by the Swift module DWSGI. Exposes as functions the macros,
// globals and variadic calls that Swift cannot import (Docs/platform-notes.md, "What Swift
// cannot call in C directly"). libc headers come before Python.h (fd_set module conflict,
// "C shim headers").
#ifndef CDPYTHON_H
#define CDPYTHON_H

#include <sys/types.h>
#include <sys/time.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x030B0000
// CPython 3.10 spells the reference-count operations as macros over _Py_INCREF and friends,
// which Swift cannot import; 3.11 made them functions of these names. The same names here.
static inline void CDPy_IncRef310(PyObject *o) { Py_INCREF(o); }
static inline void CDPy_DecRef310(PyObject *o) { Py_DECREF(o); }
static inline void CDPy_XIncRef310(PyObject *o) { Py_XINCREF(o); }
static inline void CDPy_XDecRef310(PyObject *o) { Py_XDECREF(o); }
#undef Py_INCREF
#undef Py_DECREF
#undef Py_XINCREF
#undef Py_XDECREF
static inline void Py_INCREF(PyObject *o) { CDPy_IncRef310(o); }
static inline void Py_DECREF(PyObject *o) { CDPy_DecRef310(o); }
static inline void Py_XINCREF(PyObject *o) { CDPy_XIncRef310(o); }
static inline void Py_XDECREF(PyObject *o) { CDPy_XDecRef310(o); }
#endif

static inline PyObject *CDPy_None(void) { return Py_None; }
static inline PyObject *CDPy_True(void) { return Py_True; }
static inline PyObject *CDPy_False(void) { return Py_False; }
static inline PyObject *CDPy_NewNone(void) { Py_INCREF(Py_None); return Py_None; }
static inline PyObject *CDPy_NewBool(int v) { PyObject *o = v ? Py_True : Py_False; Py_INCREF(o); return o; }

static inline int CDPy_UnicodeCheck(PyObject *o) { return PyUnicode_Check(o); }
// A new ASCII str of n characters whose bytes the caller writes (PyUnicode_1BYTE_DATA).
static inline PyObject *CDPy_UnicodeNewASCII(Py_ssize_t n) { return PyUnicode_New(n, 127); }
static inline void *CDPy_UnicodeASCIIData(PyObject *o) { return PyUnicode_1BYTE_DATA(o); }
static inline int CDPy_BytesCheck(PyObject *o) { return PyBytes_Check(o); }
static inline int CDPy_BytesCheckExact(PyObject *o) { return PyBytes_CheckExact(o); }
static inline int CDPy_ListCheckExact(PyObject *o) { return PyList_CheckExact(o); }
static inline int CDPy_TupleCheck(PyObject *o) { return PyTuple_Check(o); }
static inline int CDPy_TupleCheckExact(PyObject *o) { return PyTuple_CheckExact(o); }
static inline int CDPy_ListCheck(PyObject *o) { return PyList_Check(o); }
static inline int CDPy_LongCheck(PyObject *o) { return PyLong_Check(o); }
static inline int CDPy_UnicodeIsASCII(PyObject *o) { return PyUnicode_IS_ASCII(o); }
static inline int CDPy_UnicodeKind(PyObject *o) { return PyUnicode_KIND(o); }
static inline const void *CDPy_UnicodeData(PyObject *o) { return PyUnicode_DATA(o); }
static inline Py_ssize_t CDPy_UnicodeLength(PyObject *o) { return PyUnicode_GET_LENGTH(o); }

static inline PyObject *CDPy_TupleGet(PyObject *t, Py_ssize_t i) { return PyTuple_GET_ITEM(t, i); }
static inline Py_ssize_t CDPy_TupleSize(PyObject *t) { return PyTuple_GET_SIZE(t); }
static inline PyObject *CDPy_ListGet(PyObject *l, Py_ssize_t i) { return PyList_GET_ITEM(l, i); }
static inline Py_ssize_t CDPy_ListSize(PyObject *l) { return PyList_GET_SIZE(l); }
static inline char *CDPy_BytesData(PyObject *b) { return PyBytes_AS_STRING(b); }
static inline Py_ssize_t CDPy_BytesSize(PyObject *b) { return PyBytes_GET_SIZE(b); }
static inline PyTypeObject *CDPy_Type(PyObject *o) { return Py_TYPE(o); }

// Exception types (C globals are Swift 6 concurrency errors).
static inline PyObject *CDPy_ExcRuntimeError(void) { return PyExc_RuntimeError; }
static inline PyObject *CDPy_ExcTypeError(void) { return PyExc_TypeError; }
static inline PyObject *CDPy_ExcValueError(void) { return PyExc_ValueError; }
static inline PyObject *CDPy_ExcOSError(void) { return PyExc_OSError; }
static inline PyObject *CDPy_ExcStopIteration(void) { return PyExc_StopIteration; }
static inline PyObject *CDPy_ExcAssertionError(void) { return PyExc_AssertionError; }

static inline PyObject *CDPy_ModuleCreate(PyModuleDef *def) { return PyModule_Create(def); }
static inline PyModuleDef_Base CDPy_ModuleDefHeadInit(void) { PyModuleDef_Base b = PyModuleDef_HEAD_INIT; return b; }

// The interpreter's configuration: done here because PyConfig_SetBytesString takes a pointer
// into the struct it also modifies, which Swift's exclusivity rules reject.
// program_name: a venv's bin/python, so that getpath honours its pyvenv.cfg; may be NULL.
static inline int CDPy_Initialize(const char *program_name, char **error) {
    PyStatus status;
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    // The server owns the process's signals; Python's SIGINT handler would turn a signal into
    // a KeyboardInterrupt inside the next request (Docs/platform-notes.md, "Signals").
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    if (program_name) {
        status = PyConfig_SetBytesString(&config, &config.program_name, program_name);
        if (PyStatus_Exception(status)) goto fail;
    }
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status)) goto fail;
    PyConfig_Clear(&config);
    return 0;
fail:
    PyConfig_Clear(&config);
    if (error) *error = strdup(status.err_msg ? status.err_msg : "unknown error");
    return -1;
}

static inline const char *CDPy_CompiledVersion(void) { return PY_VERSION; }

// Objects of our own types are laid out as a PyObject header followed by one pointer, which
// holds a retained Swift object (Unmanaged).
typedef struct { PyObject_HEAD void *swift; } CDPy_Box;
static inline Py_ssize_t CDPy_BoxSize(void) { return sizeof(CDPy_Box); }
static inline void *CDPy_BoxGet(PyObject *o) { return ((CDPy_Box *)o)->swift; }
static inline void CDPy_BoxSet(PyObject *o, void *p) { ((CDPy_Box *)o)->swift = p; }
static inline PyObject *CDPy_BoxAlloc(PyTypeObject *t, void *p) {
    CDPy_Box *b = PyObject_New(CDPy_Box, t);
    if (b) b->swift = p;
    return (PyObject *)b;
}
static inline void CDPy_BoxFree(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    PyObject_Free(o);
    Py_DECREF(t);  // heap types hold a reference from each instance
}

static inline int CDPy_METH_NOARGS(void) { return METH_NOARGS; }
static inline int CDPy_METH_O(void) { return METH_O; }
static inline int CDPy_METH_VARARGS(void) { return METH_VARARGS; }
static inline int CDPy_METH_FASTCALL(void) { return METH_FASTCALL; }
static inline int CDPy_METH_KEYWORDS(void) { return METH_KEYWORDS; }
static inline unsigned long CDPy_TPFLAGS_DEFAULT(void) { return Py_TPFLAGS_DEFAULT; }
static inline int CDPy_tp_dealloc(void) { return Py_tp_dealloc; }
static inline int CDPy_tp_methods(void) { return Py_tp_methods; }
static inline int CDPy_tp_iter(void) { return Py_tp_iter; }
static inline int CDPy_tp_iternext(void) { return Py_tp_iternext; }
static inline int CDPy_tp_call(void) { return Py_tp_call; }

// obj.name or NULL, without raising (and formatting) an AttributeError when it is missing.
// 1: found (new reference in *out), 0: missing, -1: another error is set.
static inline int CDPy_LookupAttr(PyObject *obj, PyObject *name, PyObject **out) {
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(obj, name, out);  // 3.13's public name for it
#else
    return _PyObject_LookupAttr(obj, name, out);
#endif
}

static inline PyObject *CDPy_SelfIter(PyObject *o) { Py_INCREF(o); return o; }

// The timeout signal's handler (shim.c): take the plain handler now installed for `signum` as
// the dump half (faulthandler's, dump = 1) or the Python half (dump = 0); then install the one
// that runs both, without SA_RESTART. -1 when the installed handler is not a plain function, or
// a half is missing.
int CDPy_TimeoutTakeHandler(int signum, int dump);
int CDPy_TimeoutInstall(int signum);
void CDPy_TimeoutWake(int fd);

#endif
