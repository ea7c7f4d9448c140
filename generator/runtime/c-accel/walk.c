/* The compiled walk: the generated validators' plans (fhirgen.runtime.plan) interpreted in C.
 *
 * compile(plans, slots) turns PLANS (type name -> (python validator, KEYS, ops)) into a
 * Program and returns {type name: Walker}. A Walker is called like the Python validator it
 * stands for, walker(node, path, out), and does what that function does, statement by
 * statement: the happy paths the generated code inlines are taken here (a value its fast test
 * accepts, a good object handed to its type's plan), and every helper call the Python code
 * makes is made here too, with the same arguments, in the same order. All judgement stays
 * with the Python helpers; what is not exactly a dict goes to the Python validator.
 *
 * The inlined tests mirror the generated Python expressions (validator_views.py):
 *   keys:     not node or not KEYS.issuperset(node)          -> check_keys(...)
 *   'bool':   v is True or v is False
 *   'int':    v.__class__ is int and low <= v <= high
 *   'decimal': Primitive.fast of decimal (runtime/primitives.py _fast_decimal): an int with
 *             |v| < 10**18, or a float with 0.1 <= |v| < 1e16 or v == 0.0
 *   'str':    v.__class__ is str and primitive.fast(v)  (a Matcher's DFA in C, else a call)
 *   arrays:   v.__class__ is list and v and the size bounds and primitive.fast_all(v)
 *   codes:    v in codes / codes.issuperset(v)
 *   objects:  v.__class__ is dict and ('id' not in v or len(v) != 1)
 * Each Python validator call is one frame; the walk enters one recursion level per plan it
 * runs (Py_EnterRecursiveCall), so a tree too deep for Python is too deep here at the same
 * place. */
#include "accel.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

enum { SLOT_CONST = 0, SLOT_NODE, SLOT_PATH, SLOT_OUT, SLOT_VALUE, SLOT_AT, SLOT_COUNT };
enum { OP_CALL, OP_PRIM, OP_OBJECT, OP_ARRAY, OP_ROOT };
enum { FAST_BOOL, FAST_INT, FAST_DECIMAL, FAST_STR };

#define MAX_ARGS 16

typedef struct {
    PyObject *fn;                /* NULL: no call */
    Py_ssize_t nargs;            /* positional */
    Py_ssize_t nkw;
    PyObject *kwnames;           /* tuple or NULL */
    int slots[MAX_ARGS];         /* per argument (positional, then keyword values) */
    PyObject *values[MAX_ARGS];  /* constants (SLOT_CONST) */
} Call;

typedef struct {
    int kind;
    PyObject *name;     /* the JSON name (guard of a call; NULL: always) */
    PyObject *twin;     /* "_name" (or a call's second guard), or NULL */
    Py_ssize_t name_at, twin_at;  /* their places in the plan's keys, or -1 */
    int optional;
    /* prim */
    int fast;
    long long low, high;
    PyObject *fast_fn;   /* primitive.fast */
    int fast_matcher;    /* fast_fn is a Matcher */
    PyObject *fast_all;  /* primitive.fast_all */
    PyObject *codes;     /* frozenset or NULL */
    int array;
    Py_ssize_t minimum, maximum; /* maximum < 0: none */
    /* complex */
    PyObject *shown;
    Py_ssize_t type_index;
    Call after;
    PyObject *unchecked;  /* after is unchecked(VALUE, vs, AT, OUT): vs.unchecked, else NULL */
    Call odd;
    /* root */
    PyObject *passes;
    Call call;           /* the helper (root: check) */
} Op;

typedef struct {
    PyObject *pyfunc;
    PyObject *keys;
    PyObject *key_index;  /* dict: each of keys -> its place (the walk's table of values) */
    Py_ssize_t nkeys;
    Py_ssize_t nops;
    Op *ops;
} TypePlan;

/* Objects of a plan with more possible properties than this are read by lookups; up to
 * SMALL_KEYS of them the table is on the C stack. */
#define MAX_KEYS 128
#define SMALL_KEYS 24

typedef struct {
    PyObject_HEAD
    Py_ssize_t ntypes;
    TypePlan *types;
    PyObject *check_keys;  /* fhirgen.runtime.validate.check_keys */
    /* the information issue of an unexpandable binding, made here as unchecked() makes it:
     * unchecked, the issue list class it shortens (_BoundedIssues) and Issue; or NULL */
    PyObject *unchecked_fn;
    PyObject *bounded_type;
    PyObject *issue_type;
} Program;

typedef struct {
    PyObject_HEAD
    Program *program;
    Py_ssize_t index;
    vectorcallfunc vectorcall;
} Walker;

static PyObject *str_id;  /* "id" */

/* ----------------------------------------------------------------------------- Program */

static void
call_clear(Call *call)
{
    Py_CLEAR(call->fn);
    Py_CLEAR(call->kwnames);
    for (int i = 0; i < MAX_ARGS; i++) {
        Py_CLEAR(call->values[i]);
    }
}

static void
program_dealloc(Program *self)
{
    if (self->types != NULL) {
        for (Py_ssize_t t = 0; t < self->ntypes; t++) {
            TypePlan *plan = &self->types[t];
            Py_CLEAR(plan->pyfunc);
            Py_CLEAR(plan->keys);
            Py_CLEAR(plan->key_index);
            if (plan->ops != NULL) {
                for (Py_ssize_t o = 0; o < plan->nops; o++) {
                    Op *op = &plan->ops[o];
                    Py_CLEAR(op->name);
                    Py_CLEAR(op->twin);
                    Py_CLEAR(op->fast_fn);
                    Py_CLEAR(op->fast_all);
                    Py_CLEAR(op->codes);
                    Py_CLEAR(op->shown);
                    Py_CLEAR(op->passes);
                    call_clear(&op->after);
                    Py_CLEAR(op->unchecked);
                    call_clear(&op->odd);
                    call_clear(&op->call);
                }
                PyMem_Free(plan->ops);
            }
        }
        PyMem_Free(self->types);
    }
    Py_CLEAR(self->check_keys);
    Py_CLEAR(self->unchecked_fn);
    Py_CLEAR(self->bounded_type);
    Py_CLEAR(self->issue_type);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fhirgen.runtime._accel.Program",
    .tp_basicsize = sizeof(Program),
    .tp_dealloc = (destructor)program_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The compiled plans of one generated package (owned by its walkers).",
};

/* ----------------------------------------------------------------------------- calls */

static int
make_call(Program *program, Call *call, PyObject *spec, PyObject *const *slot_objects)
{
    (void)program;
    if (spec == Py_None) {
        return 0;
    }
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3) {
        PyErr_SetString(PyExc_ValueError, "a plan's call must be (fn, args, kwargs)");
        return -1;
    }
    PyObject *fn = PyTuple_GET_ITEM(spec, 0);
    PyObject *args = PyTuple_GET_ITEM(spec, 1);
    PyObject *kwargs = PyTuple_GET_ITEM(spec, 2);
    if (!PyCallable_Check(fn) || !PyTuple_Check(args) || (kwargs != Py_None && !PyDict_Check(kwargs))) {
        PyErr_SetString(PyExc_ValueError, "a plan's call must be (callable, tuple, dict or None)");
        return -1;
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    Py_ssize_t nkw = kwargs == Py_None ? 0 : PyDict_GET_SIZE(kwargs);
    if (nargs + nkw > MAX_ARGS) {
        PyErr_SetString(PyExc_ValueError, "a plan's call has too many arguments");
        return -1;
    }
    call->fn = Py_NewRef(fn);
    call->nargs = nargs;
    call->nkw = nkw;
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < nargs; i++, n++) {
        PyObject *arg = PyTuple_GET_ITEM(args, i);
        call->slots[n] = SLOT_CONST;
        for (int s = SLOT_NODE; s < SLOT_COUNT; s++) {
            if (arg == slot_objects[s]) {
                call->slots[n] = s;
            }
        }
        if (call->slots[n] == SLOT_CONST) {
            call->values[n] = Py_NewRef(arg);
        }
    }
    if (nkw) {
        call->kwnames = PyTuple_New(nkw);
        if (call->kwnames == NULL) {
            return -1;
        }
        PyObject *key, *value;
        Py_ssize_t pos = 0, k = 0;
        while (PyDict_Next(kwargs, &pos, &key, &value)) {
            PyTuple_SET_ITEM(call->kwnames, k++, Py_NewRef(key));
            call->slots[n] = SLOT_CONST;
            for (int s = SLOT_NODE; s < SLOT_COUNT; s++) {
                if (value == slot_objects[s]) {
                    call->slots[n] = s;
                }
            }
            if (call->slots[n] == SLOT_CONST) {
                call->values[n] = Py_NewRef(value);
            }
            n++;
        }
    }
    return 0;
}

/* Make *call* with the slots filled in; 0, or -1 with an exception. */
static int
do_call(const Call *call, PyObject *node, PyObject *path, PyObject *out, PyObject *value,
        PyObject *at)
{
    PyObject *stack[MAX_ARGS];
    PyObject *fill[SLOT_COUNT] = {NULL, node, path, out, value, at};
    Py_ssize_t total = call->nargs + call->nkw;
    for (Py_ssize_t i = 0; i < total; i++) {
        int slot = call->slots[i];
        PyObject *arg = slot == SLOT_CONST ? call->values[i] : fill[slot];
        if (arg == NULL) {
            PyErr_SetString(PyExc_SystemError, "a plan's call names a slot the walk does not have");
            return -1;
        }
        stack[i] = arg;
    }
    PyObject *result = PyObject_Vectorcall(call->fn, stack, call->nargs, call->kwnames);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

/* ----------------------------------------------------------------------------- compile */

static Py_ssize_t
type_index(PyObject *names, PyObject *name)
{
    PyObject *found = PyDict_GetItemWithError(names, name);
    if (found == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "a plan names the type %R, which has no plan", name);
        }
        return -1;
    }
    return PyLong_AsSsize_t(found);
}

static PyObject *
opt_str(PyObject *obj)
{
    if (obj == Py_None) {
        return NULL;
    }
    if (!PyUnicode_Check(obj)) {
        PyErr_SetString(PyExc_ValueError, "a plan's name must be a str or None");
        return NULL;
    }
    Py_INCREF(obj);
    PyUnicode_InternInPlace(&obj);
    return obj;
}

static PyObject *
twin_of(PyObject *name)
{
    return PyUnicode_FromFormat("_%U", name);
}

static Py_ssize_t
opt_size(PyObject *obj)
{
    return obj == Py_None ? -1 : PyLong_AsSsize_t(obj);
}

#define ITEM(t, i) PyTuple_GET_ITEM((t), (i))

static int
compile_op(Program *program, Op *op, PyObject *spec, PyObject *names, PyObject *const *slots)
{
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 1 || !PyUnicode_Check(ITEM(spec, 0))) {
        PyErr_SetString(PyExc_ValueError, "a plan's op must be a tuple starting with its kind");
        return -1;
    }
    const char *kind = PyUnicode_AsUTF8(ITEM(spec, 0));
    Py_ssize_t size = PyTuple_GET_SIZE(spec);
    op->maximum = -1;
    if (strcmp(kind, "call") == 0 && size == 4) {
        op->kind = OP_CALL;
        if (ITEM(spec, 1) != Py_None && (op->name = opt_str(ITEM(spec, 1))) == NULL) {
            return -1;
        }
        if (ITEM(spec, 2) != Py_None && (op->twin = opt_str(ITEM(spec, 2))) == NULL) {
            return -1;
        }
        return make_call(program, &op->call, ITEM(spec, 3), slots);
    }
    if (strcmp(kind, "prim") == 0 && size == 11) {
        op->kind = OP_PRIM;
        if ((op->name = opt_str(ITEM(spec, 1))) == NULL) {
            return -1;
        }
        op->optional = PyObject_IsTrue(ITEM(spec, 2));
        if (PyObject_IsTrue(ITEM(spec, 3)) && (op->twin = twin_of(op->name)) == NULL) {
            return -1;
        }
        PyObject *fast = ITEM(spec, 4);
        if (PyTuple_Check(fast) && PyTuple_GET_SIZE(fast) == 3) {
            op->fast = FAST_INT;
            op->low = PyLong_AsLongLong(ITEM(fast, 1));
            op->high = PyLong_AsLongLong(ITEM(fast, 2));
            if (PyErr_Occurred()) {
                return -1;
            }
        }
        else if (PyUnicode_Check(fast) && PyUnicode_CompareWithASCIIString(fast, "bool") == 0) {
            op->fast = FAST_BOOL;
        }
        else if (PyUnicode_Check(fast) && PyUnicode_CompareWithASCIIString(fast, "decimal") == 0) {
            op->fast = FAST_DECIMAL;
        }
        else if (PyUnicode_Check(fast) && PyUnicode_CompareWithASCIIString(fast, "str") == 0) {
            op->fast = FAST_STR;
        }
        else {
            PyErr_Format(PyExc_ValueError, "unknown fast test %R", fast);
            return -1;
        }
        PyObject *prim = ITEM(spec, 5);
        op->fast_fn = PyObject_GetAttrString(prim, "fast");
        if (op->fast_fn == NULL) {
            return -1;
        }
        op->fast_matcher = fg_is_matcher(op->fast_fn);
        op->fast_all = PyObject_GetAttrString(prim, "fast_all");
        if (op->fast_all == NULL) {
            return -1;
        }
        if (ITEM(spec, 6) != Py_None) {
            if (!PyAnySet_Check(ITEM(spec, 6))) {
                PyErr_SetString(PyExc_ValueError, "a plan's codes must be a set");
                return -1;
            }
            op->codes = Py_NewRef(ITEM(spec, 6));
        }
        op->array = PyObject_IsTrue(ITEM(spec, 7));
        op->minimum = PyLong_AsSsize_t(ITEM(spec, 8));
        op->maximum = opt_size(ITEM(spec, 9));
        if (PyErr_Occurred()) {
            return -1;
        }
        return make_call(program, &op->call, ITEM(spec, 10), slots);
    }
    if ((strcmp(kind, "object") == 0 && size == 7) || (strcmp(kind, "array") == 0 && size == 9)) {
        int array = kind[0] == 'a';
        op->kind = array ? OP_ARRAY : OP_OBJECT;
        if ((op->name = opt_str(ITEM(spec, 1))) == NULL) {
            return -1;
        }
        op->optional = PyObject_IsTrue(ITEM(spec, 2));
        if ((op->shown = opt_str(ITEM(spec, 3))) == NULL) {
            return -1;
        }
        if ((op->type_index = type_index(names, ITEM(spec, 4))) < 0) {
            return -1;
        }
        Py_ssize_t next = 5;
        if (array) {
            op->maximum = opt_size(ITEM(spec, next++));
            if (PyErr_Occurred()) {
                return -1;
            }
        }
        if (make_call(program, &op->after, ITEM(spec, next++), slots) < 0) {
            return -1;
        }
        if (program->unchecked_fn != NULL && op->after.fn == program->unchecked_fn
            && op->after.nargs == 4 && op->after.nkw == 0 && op->after.slots[0] == SLOT_VALUE
            && op->after.slots[1] == SLOT_CONST && op->after.slots[2] == SLOT_AT
            && op->after.slots[3] == SLOT_OUT) {
            PyObject *message = PyObject_GetAttrString(op->after.values[1], "unchecked");
            if (message == NULL) {
                return -1;
            }
            if (!PyUnicode_CheckExact(message)) {
                Py_DECREF(message);
                PyErr_SetString(PyExc_ValueError, "a value set's unchecked message must be a str");
                return -1;
            }
            op->unchecked = message;
        }
        if (array && make_call(program, &op->odd, ITEM(spec, next++), slots) < 0) {
            return -1;
        }
        return make_call(program, &op->call, ITEM(spec, next), slots);
    }
    if (strcmp(kind, "root") == 0 && size == 3) {
        op->kind = OP_ROOT;
        op->passes = Py_NewRef(ITEM(spec, 1));
        PyObject *check = Py_BuildValue("(O(OOO)O)", ITEM(spec, 2), slots[SLOT_NODE],
                                        slots[SLOT_PATH], slots[SLOT_OUT], Py_None);
        if (check == NULL) {
            return -1;
        }
        int done = make_call(program, &op->call, check, slots);
        Py_DECREF(check);
        return done;
    }
    PyErr_Format(PyExc_ValueError, "unknown plan op %R", spec);
    return -1;
}

static PyObject *walker_new(Program *program, Py_ssize_t index);

static PyObject *
accel_compile(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *plans, *slot_tuple, *check_keys;
    PyObject *unchecked_fn = NULL, *bounded_type = NULL, *issue_type = NULL;
    if (!PyArg_ParseTuple(args, "O!O!O|OO!O!:compile", &PyDict_Type, &plans, &PyTuple_Type,
                          &slot_tuple, &check_keys, &unchecked_fn, &PyType_Type, &bounded_type,
                          &PyType_Type, &issue_type)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(slot_tuple) != SLOT_COUNT - 1) {
        PyErr_SetString(PyExc_ValueError, "compile needs the slots (NODE, PATH, OUT, VALUE, AT)");
        return NULL;
    }
    PyObject *slots[SLOT_COUNT] = {NULL};
    for (int s = SLOT_NODE; s < SLOT_COUNT; s++) {
        slots[s] = PyTuple_GET_ITEM(slot_tuple, s - 1);
    }
    PyObject *names = PyDict_New();
    PyObject *walkers = NULL;
    Program *program = NULL;
    if (names == NULL) {
        return NULL;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0, count = 0;
    while (PyDict_Next(plans, &pos, &key, &value)) {
        PyObject *index = PyLong_FromSsize_t(count++);
        if (index == NULL || PyDict_SetItem(names, key, index) < 0) {
            Py_XDECREF(index);
            goto error;
        }
        Py_DECREF(index);
    }
    program = PyObject_New(Program, &ProgramType);
    if (program == NULL) {
        goto error;
    }
    program->ntypes = 0;
    program->check_keys = Py_NewRef(check_keys);
    program->unchecked_fn = program->bounded_type = program->issue_type = NULL;
    if (unchecked_fn != NULL && bounded_type != NULL && issue_type != NULL) {
        if (!PyType_IsSubtype((PyTypeObject *)issue_type, &PyTuple_Type)
            || !PyType_IsSubtype((PyTypeObject *)bounded_type, &PyList_Type)) {
            PyErr_SetString(PyExc_TypeError, "compile: the issue type must be a tuple, the list a list");
            goto error;
        }
        program->unchecked_fn = Py_NewRef(unchecked_fn);
        program->bounded_type = Py_NewRef(bounded_type);
        program->issue_type = Py_NewRef(issue_type);
    }
    program->types = PyMem_Calloc(count ? count : 1, sizeof(TypePlan));
    if (program->types == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    program->ntypes = count;
    pos = 0;
    Py_ssize_t t = 0;
    while (PyDict_Next(plans, &pos, &key, &value)) {
        TypePlan *plan = &program->types[t++];
        if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 3 || !PyAnySet_Check(ITEM(value, 1))
            || !PyTuple_Check(ITEM(value, 2)) || !PyCallable_Check(ITEM(value, 0))) {
            PyErr_Format(PyExc_ValueError, "the plan of %R must be (validator, keys, ops)", key);
            goto error;
        }
        plan->pyfunc = Py_NewRef(ITEM(value, 0));
        plan->keys = Py_NewRef(ITEM(value, 1));
        plan->key_index = PyDict_New();
        if (plan->key_index == NULL) {
            goto error;
        }
        {
            PyObject *iterator = PyObject_GetIter(plan->keys), *name;
            if (iterator == NULL) {
                goto error;
            }
            while ((name = PyIter_Next(iterator)) != NULL) {
                PyObject *place = PyUnicode_CheckExact(name) ? PyLong_FromSsize_t(plan->nkeys++)
                                                             : NULL;
                int added = place == NULL ? 0 : PyDict_SetItem(plan->key_index, name, place);
                Py_XDECREF(place);
                Py_DECREF(name);
                if (added < 0) {
                    Py_DECREF(iterator);
                    goto error;
                }
            }
            Py_DECREF(iterator);
            if (PyErr_Occurred()) {
                goto error;
            }
        }
        PyObject *ops = ITEM(value, 2);
        plan->nops = PyTuple_GET_SIZE(ops);
        plan->ops = PyMem_Calloc(plan->nops ? plan->nops : 1, sizeof(Op));
        if (plan->ops == NULL) {
            plan->nops = 0;
            PyErr_NoMemory();
            goto error;
        }
        for (Py_ssize_t o = 0; o < plan->nops; o++) {
            Op *op = &plan->ops[o];
            if (compile_op(program, op, ITEM(ops, o), names, slots) < 0) {
                goto error;
            }
            op->name_at = op->twin_at = -1;
            PyObject *names_of[2] = {op->name, op->twin};
            Py_ssize_t *places[2] = {&op->name_at, &op->twin_at};
            for (int k = 0; k < 2; k++) {
                PyObject *place = names_of[k] == NULL ? NULL
                                  : PyDict_GetItemWithError(plan->key_index, names_of[k]);
                if (place != NULL) {
                    *places[k] = PyLong_AsSsize_t(place);
                }
                else if (PyErr_Occurred()) {
                    goto error;
                }
            }
        }
    }
    walkers = PyDict_New();
    if (walkers == NULL) {
        goto error;
    }
    pos = 0;
    t = 0;
    while (PyDict_Next(plans, &pos, &key, &value)) {
        PyObject *walker = walker_new(program, t++);
        if (walker == NULL || PyDict_SetItem(walkers, key, walker) < 0) {
            Py_XDECREF(walker);
            goto error;
        }
        Py_DECREF(walker);
    }
    Py_DECREF(names);
    Py_DECREF(program);
    return walkers;
error:
    Py_XDECREF(walkers);
    Py_XDECREF(program);
    Py_DECREF(names);
    return NULL;
}

/* ----------------------------------------------------------------------------- walk */

/* _fast_decimal of runtime/primitives.py: 1 accepted, 0 not. */
static int
fast_decimal(PyObject *v)
{
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) {
            return 0;
        }
        if (x == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        return -1000000000000000000LL < x && x < 1000000000000000000LL;
    }
    if (PyFloat_CheckExact(v)) {
        double x = PyFloat_AS_DOUBLE(v);
        double a = fabs(x);
        return (0.1 <= a && a < 1e16) || x == 0.0;
    }
    return 0;
}

/* The truth of fn(v), as Python's `if fn(v)`: 1, 0, or -1 with an exception. */
static int
call_truth(PyObject *fn, PyObject *v)
{
    PyObject *r = PyObject_CallOneArg(fn, v);
    if (r == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(r);
    Py_DECREF(r);
    return truth;
}

/* The scalar fast test of *op* on *v*: 1, 0, or -1 with an exception. */
static int
fast_scalar(const Op *op, PyObject *v)
{
    switch (op->fast) {
    case FAST_BOOL:
        return v == Py_True || v == Py_False;
    case FAST_INT: {
        if (!PyLong_CheckExact(v)) {
            return 0;
        }
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow) {
            return 0;
        }
        if (x == -1 && PyErr_Occurred()) {
            return -1;
        }
        return op->low <= x && x <= op->high;
    }
    case FAST_DECIMAL:
        return fast_decimal(v);
    default:
        if (!PyUnicode_CheckExact(v)) {
            return 0;
        }
        if (op->fast_matcher) {
            return fg_matcher_accepts(op->fast_fn, v);
        }
        return call_truth(op->fast_fn, v);
    }
}

/* primitive.fast_all(v) of a non-empty list: 1, 0, or -1. Items are tested here when each is
 * of the exact type the fast test takes; otherwise Python's fast_all decides. */
static int
fast_list(const Op *op, PyObject *v)
{
    Py_ssize_t n = PyList_GET_SIZE(v);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(v, i);
        if (op->fast == FAST_STR && !PyUnicode_CheckExact(item)) {
            if (PyUnicode_Check(item)) {
                goto python;  /* a str subclass: the Python check decides */
            }
            return 0;
        }
        Py_INCREF(item);
        int ok = fast_scalar(op, item);
        Py_DECREF(item);
        if (ok <= 0) {
            return ok;
        }
        if (PyList_GET_SIZE(v) != n) {
            goto python;
        }
    }
    return 1;
python:
    return call_truth(op->fast_all, v);
}

/* The inlined test of a prim op on the present value *v* (NULL: absent): 1 good, 0 not. */
static int
prim_good(const Op *op, PyObject *v)
{
    if (v == NULL) {
        return 0;
    }
    if (!op->array) {
        int ok = fast_scalar(op, v);
        if (ok <= 0) {
            return ok;
        }
        if (op->codes != NULL) {
            return PySet_Contains(op->codes, v);
        }
        return 1;
    }
    if (!PyList_CheckExact(v)) {
        return 0;
    }
    Py_ssize_t n = PyList_GET_SIZE(v);
    if (n == 0 || (op->maximum >= 0 && n > op->maximum) || (op->minimum > 1 && n < op->minimum)) {
        return 0;
    }
    int ok = fast_list(op, v);
    if (ok <= 0 || op->codes == NULL) {
        return ok;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++) {
        PyObject *item = PyList_GET_ITEM(v, i);
        Py_INCREF(item);
        int in = PySet_Contains(op->codes, item);
        Py_DECREF(item);
        if (in <= 0) {
            return in;
        }
    }
    return 1;
}

/* Whether *item* is the object the generated code hands straight to its type's validator. */
static int
good_object(PyObject *item)
{
    if (!PyDict_CheckExact(item)) {
        return 0;
    }
    if (PyDict_GET_SIZE(item) != 1) {
        return 1;
    }
    PyObject *found = PyDict_GetItemWithError(item, str_id);
    if (found == NULL) {
        return PyErr_Occurred() ? -1 : 1;
    }
    return 0;
}

static int walk(Program *program, Py_ssize_t index, PyObject *node, PyObject *path, PyObject *out);
static PyObject *location_text(PyObject *loc);

static PyObject *str_concept, *str_reference, *str_coding, *str_text, *str_max_issues;
static PyObject *str_information, *str_informational, *str_binding;

/* unchecked(item, vs, at, out) of fhirgen.runtime.validate, made here in its usual case (a
 * plain Coding, a bounded issue list with room, an ASCII location): the information issue
 * appended as unchecked appends it. 1 done, 0 not (Python does it), -1 error. */
static int
unchecked_here(Program *program, const Op *op, PyObject *item, PyObject *at, PyObject *out)
{
    if ((PyObject *)Py_TYPE(out) != program->bounded_type || !PyDict_CheckExact(item)) {
        return 0;
    }
    PyObject *keys[4] = {str_concept, str_reference, str_coding, str_text};
    for (int k = 0; k < 4; k++) {
        int in = PyDict_Contains(item, keys[k]);
        if (in != 0) {
            return in < 0 ? -1 : 0;
        }
    }
    PyObject *limit = PyObject_GetAttr(out, str_max_issues);
    if (limit == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t max_issues = PyLong_Check(limit) ? PyLong_AsSsize_t(limit) : -1;
    Py_DECREF(limit);
    if (max_issues == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (PyList_GET_SIZE(out) >= max_issues) {
        return 0;
    }
    PyObject *where = location_text(at);
    if (where == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        return 0;
    }
    if (!PyUnicode_IS_ASCII(where)) {
        Py_DECREF(where);
        return 0;  /* _printable's business */
    }
    PyObject *fields = PyTuple_Pack(8, str_information, str_informational, str_binding,
                                    op->unchecked, where, Py_None, Py_None, Py_None);
    Py_DECREF(where);
    if (fields == NULL) {
        return -1;
    }
    /* tuple.__new__(Issue, fields): what unchecked's _new_issue does */
    PyObject *new_args = PyTuple_Pack(1, fields);
    Py_DECREF(fields);
    if (new_args == NULL) {
        return -1;
    }
    PyObject *issue = PyTuple_Type.tp_new((PyTypeObject *)program->issue_type, new_args, NULL);
    Py_DECREF(new_args);
    if (issue == NULL) {
        return -1;
    }
    int appended = PyList_Append(out, issue);
    Py_DECREF(issue);
    return appended < 0 ? -1 : 1;
}

/* The after-call of a complex op on *item* at *at*. */
static int
after_call(Program *program, const Op *op, PyObject *node, PyObject *path, PyObject *out,
           PyObject *item, PyObject *at)
{
    if (op->unchecked != NULL) {
        int done = unchecked_here(program, op, item, at, out);
        if (done != 0) {
            return done < 0 ? -1 : 0;
        }
    }
    return do_call(&op->after, node, path, out, item, at);
}

/* The lookup of *name* in the dict *node*: a borrowed reference, or NULL (absent, or -1 set). */
static inline PyObject *
lookup(PyObject *node, PyObject *name, int *error)
{
    PyObject *v = PyDict_GetItemWithError(node, name);
    if (v == NULL && PyErr_Occurred()) {
        *error = 1;
    }
    return v;
}

/* The value of property *name* (at place *at* of the plan's keys) of *node*: from the walk's
 * table when it has one, else by lookup. Borrowed, or NULL (absent; -1 set in *error*). */
static inline PyObject *
get(PyObject *const *values, Py_ssize_t at, PyObject *node, PyObject *name, int *error)
{
    if (values != NULL && at >= 0) {
        return values[at];
    }
    return lookup(node, name, error);
}

static int
run_op(Program *program, const Op *op, PyObject *node, PyObject *path, PyObject *out,
       PyObject *const *values)
{
    int error = 0;
    switch (op->kind) {
    case OP_CALL: {
        if (op->name != NULL) {
            PyObject *v = get(values, op->name_at, node, op->name, &error);
            if (error) {
                return -1;
            }
            if (v == NULL && op->twin != NULL) {
                v = get(values, op->twin_at, node, op->twin, &error);
                if (error) {
                    return -1;
                }
            }
            if (v == NULL) {
                return 0;
            }
        }
        return do_call(&op->call, node, path, out, NULL, NULL);
    }
    case OP_ROOT: {
        PyObject *r = PyObject_CallOneArg(op->passes, node);
        if (r == NULL) {
            return -1;
        }
        int passed = r == Py_True;
        Py_DECREF(r);
        return passed ? 0 : do_call(&op->call, node, path, out, NULL, NULL);
    }
    case OP_PRIM: {
        PyObject *v = get(values, op->name_at, node, op->name, &error);
        if (error) {
            return -1;
        }
        if (v == NULL && op->optional) {
            if (op->twin == NULL) {
                return 0;
            }
            PyObject *t = get(values, op->twin_at, node, op->twin, &error);
            if (error) {
                return -1;
            }
            return t == NULL ? 0 : do_call(&op->call, node, path, out, NULL, NULL);
        }
        if (op->twin != NULL) {
            PyObject *t = get(values, op->twin_at, node, op->twin, &error);
            if (error) {
                return -1;
            }
            if (t != NULL) {
                return do_call(&op->call, node, path, out, NULL, NULL);
            }
        }
        Py_XINCREF(v);
        int good = prim_good(op, v);
        Py_XDECREF(v);
        if (good < 0) {
            return -1;
        }
        return good ? 0 : do_call(&op->call, node, path, out, NULL, NULL);
    }
    case OP_OBJECT: {
        PyObject *v = get(values, op->name_at, node, op->name, &error);
        if (error) {
            return -1;
        }
        if (v == NULL && op->optional) {
            return 0;
        }
        int good = v == NULL ? 0 : good_object(v);
        if (good < 0) {
            return -1;
        }
        if (!good) {
            return do_call(&op->call, node, path, out, NULL, NULL);
        }
        Py_INCREF(v);
        PyObject *w = PyTuple_Pack(2, path, op->shown);
        int done = w == NULL ? -1 : walk(program, op->type_index, v, w, out);
        if (done == 0 && op->after.fn != NULL) {
            done = after_call(program, op, node, path, out, v, w);
        }
        Py_XDECREF(w);
        Py_DECREF(v);
        return done;
    }
    case OP_ARRAY: {
        PyObject *v = get(values, op->name_at, node, op->name, &error);
        if (error) {
            return -1;
        }
        if (v == NULL && op->optional) {
            return 0;
        }
        if (v == NULL || !PyList_CheckExact(v) || PyList_GET_SIZE(v) == 0
            || (op->maximum >= 0 && PyList_GET_SIZE(v) > op->maximum)) {
            return do_call(&op->call, node, path, out, NULL, NULL);
        }
        Py_INCREF(v);
        int done = 0;
        PyObject *w = PyTuple_Pack(2, path, op->shown);
        if (w == NULL) {
            done = -1;
        }
        for (Py_ssize_t i = 0; done == 0 && i < PyList_GET_SIZE(v); i++) {
            PyObject *item = PyList_GET_ITEM(v, i);
            Py_INCREF(item);
            PyObject *index = PyLong_FromSsize_t(i);
            PyObject *at = index == NULL ? NULL : PyTuple_Pack(2, w, index);
            Py_XDECREF(index);
            if (at == NULL) {
                done = -1;
            }
            else {
                int good = good_object(item);
                if (good < 0) {
                    done = -1;
                }
                else if (good) {
                    done = walk(program, op->type_index, item, at, out);
                    if (done == 0 && op->after.fn != NULL) {
                        done = after_call(program, op, node, path, out, item, at);
                    }
                }
                else {
                    done = do_call(&op->odd, node, path, out, item, at);
                }
                Py_DECREF(at);
            }
            Py_DECREF(item);
        }
        Py_XDECREF(w);
        Py_DECREF(v);
        return done;
    }
    }
    PyErr_SetString(PyExc_SystemError, "unknown op in a compiled plan");
    return -1;
}

/* The keys test of a validator's first line (1 when check_keys must run), filling *values*
 * (new references, by place in the plan's keys) on the way; *indexed* is cleared when a name
 * is not an exact str (the ops then look names up, as Python would). */
static int
read_keys(const TypePlan *plan, PyObject *node, PyObject **values, int *indexed)
{
    int odd = PyDict_GET_SIZE(node) == 0;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(node, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            *indexed = 0;
        }
        PyObject *place = *indexed ? PyDict_GetItemWithError(plan->key_index, key) : NULL;
        if (place != NULL) {
            Py_ssize_t at = PyLong_AsSsize_t(place);
            Py_XSETREF(values[at], Py_NewRef(value));
            continue;
        }
        if (PyErr_Occurred()) {
            return -1;
        }
        if (!odd) {
            int in = PySet_Contains(plan->keys, key);
            if (in < 0) {
                return -1;
            }
            odd = !in;
        }
    }
    return odd;
}

static int
walk(Program *program, Py_ssize_t index, PyObject *node, PyObject *path, PyObject *out)
{
    const TypePlan *plan = &program->types[index];
    if (!PyDict_CheckExact(node)) {
        PyObject *r = PyObject_CallFunctionObjArgs(plan->pyfunc, node, path, out, NULL);
        Py_XDECREF(r);
        return r == NULL ? -1 : 0;
    }
    if (Py_EnterRecursiveCall(" while validating")) {
        return -1;
    }
    /* each property read once: the helpers the walk calls never change the tree. A small
     * table on the stack (a walk nests as deep as the recursion limit allows: little C stack
     * per level), a larger one from the heap */
    PyObject *small[SMALL_KEYS];
    PyObject **table = small;
    int indexed = plan->nkeys <= MAX_KEYS;
    if (indexed && plan->nkeys > SMALL_KEYS) {
        table = PyMem_Malloc(sizeof(PyObject *) * (size_t)plan->nkeys);
        if (table == NULL) {
            Py_LeaveRecursiveCall();
            PyErr_NoMemory();
            return -1;
        }
    }
    if (indexed) {
        memset(table, 0, sizeof(PyObject *) * (size_t)plan->nkeys);
    }
    int done = 0;
    int odd = read_keys(plan, node, table, &indexed);
    if (odd < 0) {
        done = -1;
    }
    else if (odd) {
        PyObject *r = PyObject_CallFunctionObjArgs(program->check_keys, node, plan->keys, path, out,
                                                   NULL);
        Py_XDECREF(r);
        done = r == NULL ? -1 : 0;
    }
    for (Py_ssize_t o = 0; done == 0 && o < plan->nops; o++) {
        done = run_op(program, &plan->ops[o], node, path, out, indexed ? table : NULL);
    }
    if (plan->nkeys <= MAX_KEYS) {
        for (Py_ssize_t k = 0; k < plan->nkeys; k++) {
            Py_XDECREF(table[k]);
        }
        if (table != small) {
            PyMem_Free(table);
        }
    }
    Py_LeaveRecursiveCall();
    return done;
}

/* ----------------------------------------------------------------------------- Walker */

static PyObject *
walker_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Walker *self = (Walker *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "a validator takes (node, path, out)");
        return NULL;
    }
    if (walk(self->program, self->index, args[0], args[1], args[2]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static void
walker_dealloc(Walker *self)
{
    Py_CLEAR(self->program);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
walker_repr(Walker *self)
{
    PyObject *fn = self->program->types[self->index].pyfunc;
    PyObject *name = PyObject_GetAttrString(fn, "__name__");
    if (name == NULL) {
        PyErr_Clear();
        return PyUnicode_FromString("<compiled walk>");
    }
    PyObject *text = PyUnicode_FromFormat("<compiled walk of %U>", name);
    Py_DECREF(name);
    return text;
}

static PyObject *
walker_get_python(Walker *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->program->types[self->index].pyfunc);
}

static PyGetSetDef walker_getset[] = {
    {"python", (getter)walker_get_python, NULL, "The Python validator this walk stands for.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject WalkerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fhirgen.runtime._accel.Walker",
    .tp_basicsize = sizeof(Walker),
    .tp_dealloc = (destructor)walker_dealloc,
    .tp_repr = (reprfunc)walker_repr,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Walker, vectorcall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_getset = walker_getset,
    .tp_doc = "A generated validator's compiled walk: walker(node, path, out).",
};

static PyObject *
walker_new(Program *program, Py_ssize_t index)
{
    Walker *self = PyObject_New(Walker, &WalkerType);
    if (self == NULL) {
        return NULL;
    }
    self->program = (Program *)Py_NewRef((PyObject *)program);
    self->index = index;
    self->vectorcall = walker_vectorcall;
    return (PyObject *)self;
}

/* ----------------------------------------------------------------------------- location */

#define MAX_PARTS 64

/* location(python_location, loc): the FHIRPath text of a location tuple, as
 * fhirgen.runtime.validate.location makes it: (("X", "instance"), 0) -> "X.instance[0]". Done
 * here when every part is a str or an int and the root a str (nested at most MAX_PARTS deep);
 * anything else is handed to *python_location*. */
static PyObject *
location_text(PyObject *loc)
{
    PyObject *here = loc;
    PyObject *parts[MAX_PARTS];
    Py_ssize_t count = 0;
    while (PyTuple_CheckExact(here)) {
        if (PyTuple_GET_SIZE(here) != 2 || count == MAX_PARTS) {
            goto python;
        }
        PyObject *part = PyTuple_GET_ITEM(here, 1);
        if (!PyUnicode_CheckExact(part) && !PyLong_CheckExact(part)) {
            goto python;
        }
        parts[count++] = part;
        here = PyTuple_GET_ITEM(here, 0);
    }
    if (!PyUnicode_CheckExact(here)) {
        goto python;
    }
    if (count == 0) {
        return Py_NewRef(here);
    }
    /* one pass for the length and widest character, one to write */
    char digits[MAX_PARTS][24];
    Py_ssize_t total = PyUnicode_GET_LENGTH(here);
    Py_UCS4 maxchar = PyUnicode_MAX_CHAR_VALUE(here);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (PyUnicode_CheckExact(parts[i])) {
            total += 1 + PyUnicode_GET_LENGTH(parts[i]);
            Py_UCS4 widest = PyUnicode_MAX_CHAR_VALUE(parts[i]);
            maxchar = widest > maxchar ? widest : maxchar;
        }
        else {
            int overflow = 0;
            long long value = PyLong_AsLongLongAndOverflow(parts[i], &overflow);
            if (overflow || (value == -1 && PyErr_Occurred())) {
                PyErr_Clear();
                goto python;
            }
            total += 2 + snprintf(digits[i], sizeof digits[i], "%lld", value);
        }
    }
    PyObject *text = PyUnicode_New(total, maxchar);
    if (text == NULL) {
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    void *data = PyUnicode_DATA(text);
    Py_ssize_t at = PyUnicode_GET_LENGTH(here);
    PyUnicode_CopyCharacters(text, 0, here, 0, at);
    for (Py_ssize_t i = count - 1; i >= 0; i--) {
        if (PyUnicode_CheckExact(parts[i])) {
            PyUnicode_WRITE(kind, data, at++, '.');
            Py_ssize_t length = PyUnicode_GET_LENGTH(parts[i]);
            PyUnicode_CopyCharacters(text, at, parts[i], 0, length);
            at += length;
        }
        else {
            PyUnicode_WRITE(kind, data, at++, '[');
            for (const char *c = digits[i]; *c; c++) {
                PyUnicode_WRITE(kind, data, at++, (Py_UCS4)*c);
            }
            PyUnicode_WRITE(kind, data, at++, ']');
        }
    }
    return text;
python:
    return NULL;  /* no exception: not handled here */
}

static PyObject *
accel_location(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "location(python_location, loc)");
        return NULL;
    }
    PyObject *text = location_text(args[1]);
    if (text != NULL || PyErr_Occurred()) {
        return text;
    }
    return PyObject_CallOneArg(args[0], args[1]);
}

/* ----------------------------------------------------------------------------- reach */

static PyObject *str_resource_type;

/* reach(python_reach, data, names): fhirgen.runtime.fhirpath.reach (how many items a path of
 * elements gives from a JSON object, when the JSON tells it directly; None when not), for an
 * exact dict and a tuple of str; anything else is python_reach's. */
static PyObject *
accel_reach(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "reach(python_reach, data, names)");
        return NULL;
    }
    PyObject *data = args[1], *names = args[2];
    if (!PyDict_CheckExact(data) || !PyTuple_CheckExact(names) || PyTuple_GET_SIZE(names) == 0) {
        return PyObject_Vectorcall(args[0], args + 1, 2, NULL);
    }
    Py_ssize_t last = PyTuple_GET_SIZE(names) - 1;
    for (Py_ssize_t i = 0; i <= last; i++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(names, i))) {
            return PyObject_Vectorcall(args[0], args + 1, 2, NULL);
        }
    }
    for (Py_ssize_t position = 0; position <= last; position++) {
        PyObject *name = PyTuple_GET_ITEM(names, position);
        PyObject *value = PyDict_GetItemWithError(data, name);
        if (value == NULL && PyErr_Occurred()) {
            return NULL;
        }
        PyObject *twin_name = PyUnicode_FromFormat("_%U", name);
        if (twin_name == NULL) {
            return NULL;
        }
        PyObject *twin = PyDict_GetItemWithError(data, twin_name);
        Py_DECREF(twin_name);
        if (twin == NULL && PyErr_Occurred()) {
            return NULL;
        }
        if (twin != NULL && twin != Py_None) {
            Py_RETURN_NONE;
        }
        if (value == NULL || value == Py_None) {
            return PyLong_FromLong(0);
        }
        if (position == last) {
            if (PyList_CheckExact(value)) {
                Py_RETURN_NONE;
            }
            return PyLong_FromLong(1);
        }
        if (!PyDict_CheckExact(value)) {
            Py_RETURN_NONE;
        }
        int typed = PyDict_Contains(value, str_resource_type);
        if (typed != 0) {
            if (typed < 0) {
                return NULL;
            }
            Py_RETURN_NONE;
        }
        data = value;
    }
    Py_RETURN_NONE;
}

/* ----------------------------------------------------------------------------- init */

static PyMethodDef walk_methods[] = {
    {"reach", (PyCFunction)(void (*)(void))accel_reach, METH_FASTCALL,
     "reach(python_reach, data, names): fhirgen.runtime.fhirpath.reach in C for a dict and a "
     "tuple of str (anything else is python_reach's)."},
    {"location", (PyCFunction)(void (*)(void))accel_location, METH_FASTCALL,
     "location(python_location, loc) -> str: the FHIRPath text of a location tuple (see "
     "fhirgen.runtime.validate.location, which is called for what this does not handle)."},
    {"compile", accel_compile, METH_VARARGS,
     "compile(plans, (NODE, PATH, OUT, VALUE, AT), check_keys[, unchecked, bounded, issue]) -> "
     "{type name: Walker}: the compiled walks "
     "of a generated package's PLANS (fhirgen.runtime.plan)."},
    {NULL, NULL, 0, NULL},
};

int
fg_walk_init(PyObject *module)
{
    if (PyType_Ready(&ProgramType) < 0 || PyType_Ready(&WalkerType) < 0) {
        return -1;
    }
    str_id = PyUnicode_InternFromString("id");
    str_concept = PyUnicode_InternFromString("concept");
    str_reference = PyUnicode_InternFromString("reference");
    str_coding = PyUnicode_InternFromString("coding");
    str_text = PyUnicode_InternFromString("text");
    str_max_issues = PyUnicode_InternFromString("max_issues");
    str_information = PyUnicode_InternFromString("information");
    str_informational = PyUnicode_InternFromString("informational");
    str_binding = PyUnicode_InternFromString("binding");
    str_resource_type = PyUnicode_InternFromString("resourceType");
    if (str_id == NULL || str_concept == NULL || str_reference == NULL || str_coding == NULL
        || str_text == NULL || str_max_issues == NULL || str_information == NULL
        || str_informational == NULL || str_binding == NULL || str_resource_type == NULL) {
        return -1;
    }
    if (PyModule_AddFunctions(module, walk_methods) < 0) {
        return -1;
    }
    Py_INCREF(&WalkerType);
    if (PyModule_AddObject(module, "Walker", (PyObject *)&WalkerType) < 0) {
        Py_DECREF(&WalkerType);
        return -1;
    }
    return 0;
}
