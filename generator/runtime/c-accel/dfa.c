/* The dfa part: Matcher, a primitive's fast check as a DFA over Unicode code points.
 *
 * Matcher(tables) takes the literal fhirgen.regex_dfa.compile_dfa makes of the fast check's
 * pattern (its docstring describes the layout):
 *
 *     (1, unicode_version, max_len, start, accepting, starts, classes, transitions)
 *
 * m(value) is True when value is a str (a subclass too: re.fullmatch reads a subclass's code
 * points alike, and so does this) whose code points lead the automaton from start to an
 * accepting state, within max_len; False for anything else (no exception, whatever the one
 * argument; only a wrong number of arguments is a TypeError). m.all(values)
 * is True when every item of values is accepted (True for none), False otherwise or when values
 * is no iterable: the Python runtime's all(map(fast, values)) with a TypeError counting as False.
 *
 * The class of a code point below LOW_LIMIT is a table look-up; above it, a binary search in
 * the ranges; with at most 256 states a 1-byte string takes one look-up a character in a
 * (state, byte) -> state table. A rejecting state no move leaves ends the scan. The caller checks that the tables' Unicode version is its Python's
 * (fhirgen.runtime.primitives does): the Matcher checks their shape only. */
#include "accel.h"

#include <structmember.h>

#include <stdint.h>
#include <string.h>

#define FORMAT 1
#define LOW_LIMIT 0x800 /* code points with a direct class table */
#define NO_DEAD UINT32_MAX

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *tables;      /* the literal it was made from (pickling, repr) */
    Py_ssize_t max_len;    /* -1: no limit */
    uint32_t start;
    uint32_t dead;         /* a rejecting state no move leaves, or NO_DEAD */
    uint32_t states;
    uint32_t classes;
    Py_ssize_t ranges;
    uint8_t *accepting;    /* [states] */
    uint16_t *next;        /* [states * classes] */
    uint8_t *latin1;       /* [states * 256]: the next state on a code point below 256 (one
                              look-up a character for 1-byte strings), when states <= 256 */
    Py_UCS4 *starts;       /* [ranges], ascending, starts[0] == 0 */
    uint8_t *range_class;  /* [ranges] */
    uint8_t low[LOW_LIMIT];
} Matcher;

static PyTypeObject MatcherType;

static inline uint8_t
class_of(const Matcher *m, Py_UCS4 ch)
{
    if (ch < LOW_LIMIT) {
        return m->low[ch];
    }
    Py_ssize_t lo = 0, hi = m->ranges - 1; /* the last range starting at or below ch */
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo + 1) / 2;
        if (m->starts[mid] <= ch) {
            lo = mid;
        }
        else {
            hi = mid - 1;
        }
    }
    return m->range_class[lo];
}

#define RUN(TYPE)                                                          \
    do {                                                                   \
        const TYPE *p = (const TYPE *)data;                                \
        for (Py_ssize_t i = 0; i < n; i++) {                               \
            q = next[(size_t)q * classes + class_of(m, (Py_UCS4)p[i])];    \
            if (q == dead) {                                               \
                return 0;                                                  \
            }                                                              \
        }                                                                  \
    } while (0)

/* 1 when the str *s* is accepted, 0 when not, -1 with an exception (a legacy str not ready). */
static int
match_str(const Matcher *m, PyObject *s)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) {
        return -1;
    }
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (m->max_len >= 0 && n > m->max_len) {
        return 0;
    }
    const void *data = PyUnicode_DATA(s);
    const uint16_t *next = m->next;
    const uint32_t classes = m->classes, dead = m->dead;
    uint32_t q = m->start;
    switch (PyUnicode_KIND(s)) {
    case PyUnicode_1BYTE_KIND:
        if (m->latin1 != NULL) {
            const Py_UCS1 *p = (const Py_UCS1 *)data;
            const uint8_t *latin1 = m->latin1;
            for (Py_ssize_t i = 0; i < n; i++) {
                q = latin1[(size_t)q << 8 | p[i]];
                if (q == dead) {
                    return 0;
                }
            }
            break;
        }
        RUN(Py_UCS1);
        break;
    case PyUnicode_2BYTE_KIND:
        RUN(Py_UCS2);
        break;
    default:
        RUN(Py_UCS4);
        break;
    }
    return m->accepting[q];
}

int
fg_is_matcher(PyObject *obj)
{
    return PyObject_TypeCheck(obj, &MatcherType);
}

int
fg_matcher_accepts(PyObject *matcher, PyObject *value)
{
    if (!fg_is_matcher(matcher)) {
        PyErr_SetString(PyExc_TypeError, "fg_matcher_accepts: not a Matcher");
        return -1;
    }
    if (!PyUnicode_Check(value)) {
        return 0;
    }
    return match_str((const Matcher *)matcher, value);
}

static PyObject *
matcher_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Matcher() takes exactly one positional argument");
        return NULL;
    }
    PyObject *value = args[0];
    if (!PyUnicode_Check(value)) {
        Py_RETURN_FALSE;
    }
    int found = match_str((const Matcher *)self, value);
    if (found < 0) {
        return NULL;
    }
    return PyBool_FromLong(found);
}

/* all(values): 1, 0, or -1 with an exception other than a TypeError */
static int
match_all(const Matcher *m, PyObject *values)
{
    if (PyList_CheckExact(values) || PyTuple_CheckExact(values)) {
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(values); i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(values, i); /* a list may shrink: re-read */
            if (!PyUnicode_Check(item)) {
                return 0;
            }
            int found = match_str(m, item);
            if (found <= 0) {
                return found;
            }
        }
        return 1;
    }
    PyObject *iterator = PyObject_GetIter(values);
    if (iterator == NULL) {
        goto type_error;
    }
    PyObject *item;
    int result = 1;
    while ((item = PyIter_Next(iterator)) != NULL) {
        int found = PyUnicode_Check(item) ? match_str(m, item) : 0;
        Py_DECREF(item);
        if (found <= 0) {
            result = found;
            break;
        }
    }
    Py_DECREF(iterator);
    if (result == 1 && PyErr_Occurred()) {
        goto type_error;
    }
    return result;
type_error:
    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

static PyObject *
matcher_all(PyObject *self, PyObject *values)
{
    int found = match_all((const Matcher *)self, values);
    if (found < 0) {
        return NULL;
    }
    return PyBool_FromLong(found);
}

/* ------------------------------------------------------------------------------ construction */

static int
bad(const char *what)
{
    PyErr_Format(PyExc_ValueError, "Matcher: malformed tables (%s)", what);
    return -1;
}

static int
as_size(PyObject *obj, Py_ssize_t low, Py_ssize_t high, Py_ssize_t *out, const char *what)
{
    if (!PyLong_Check(obj)) {
        return bad(what);
    }
    Py_ssize_t value = PyLong_AsSsize_t(obj);
    if (value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return bad(what);
    }
    if (value < low || value > high) {
        return bad(what);
    }
    *out = value;
    return 0;
}

static int
load(Matcher *m, PyObject *tables)
{
    if (!PyTuple_Check(tables) || PyTuple_GET_SIZE(tables) != 8) {
        PyErr_SetString(PyExc_TypeError, "Matcher: the tables are a tuple of 8 items");
        return -1;
    }
    PyObject *accepting = PyTuple_GET_ITEM(tables, 4), *starts = PyTuple_GET_ITEM(tables, 5);
    PyObject *range_class = PyTuple_GET_ITEM(tables, 6), *next = PyTuple_GET_ITEM(tables, 7);
    Py_ssize_t format, start;
    if (as_size(PyTuple_GET_ITEM(tables, 0), FORMAT, FORMAT, &format, "format") < 0) {
        return -1;
    }
    if (!PyBytes_Check(PyTuple_GET_ITEM(tables, 1))) {
        return bad("unicode version");
    }
    if (as_size(PyTuple_GET_ITEM(tables, 2), -1, PY_SSIZE_T_MAX, &m->max_len, "max_len") < 0) {
        return -1;
    }
    if (!PyBytes_Check(accepting) || PyBytes_GET_SIZE(accepting) < 1 ||
        PyBytes_GET_SIZE(accepting) > 65535) {
        return bad("accepting");
    }
    m->states = (uint32_t)PyBytes_GET_SIZE(accepting);
    if (as_size(PyTuple_GET_ITEM(tables, 3), 0, m->states - 1, &start, "start") < 0) {
        return -1;
    }
    m->start = (uint32_t)start;
    if (!PyTuple_Check(starts) || PyTuple_GET_SIZE(starts) < 1 ||
        PyTuple_GET_SIZE(starts) > 0x110000) {
        return bad("starts");
    }
    m->ranges = PyTuple_GET_SIZE(starts);
    if (!PyBytes_Check(range_class) || PyBytes_GET_SIZE(range_class) != m->ranges) {
        return bad("classes");
    }
    const uint8_t *cls = (const uint8_t *)PyBytes_AS_STRING(range_class);
    uint32_t classes = 0;
    for (Py_ssize_t i = 0; i < m->ranges; i++) {
        if ((uint32_t)cls[i] + 1 > classes) {
            classes = (uint32_t)cls[i] + 1;
        }
    }
    m->classes = classes;
    size_t width = m->states > 256 ? 2 : 1;
    size_t entries = (size_t)m->states * classes;
    if (!PyBytes_Check(next) || (size_t)PyBytes_GET_SIZE(next) != entries * width) {
        return bad("transitions");
    }

    m->accepting = PyMem_Malloc(m->states);
    m->next = PyMem_Malloc(entries * sizeof(uint16_t));
    m->starts = PyMem_Malloc((size_t)m->ranges * sizeof(Py_UCS4));
    m->range_class = PyMem_Malloc((size_t)m->ranges);
    if (!m->accepting || !m->next || !m->starts || !m->range_class) {
        PyErr_NoMemory();
        return -1;
    }
    const uint8_t *acc = (const uint8_t *)PyBytes_AS_STRING(accepting);
    for (uint32_t q = 0; q < m->states; q++) {
        if (acc[q] > 1) {
            return bad("accepting");
        }
        m->accepting[q] = acc[q];
    }
    memcpy(m->range_class, cls, (size_t)m->ranges);
    for (Py_ssize_t i = 0; i < m->ranges; i++) {
        Py_ssize_t first;
        Py_ssize_t least = i == 0 ? 0 : (Py_ssize_t)m->starts[i - 1] + 1;
        Py_ssize_t most = i == 0 ? 0 : 0x10FFFF;
        if (as_size(PyTuple_GET_ITEM(starts, i), least, most, &first, "starts") < 0) {
            return -1;
        }
        m->starts[i] = (Py_UCS4)first;
    }
    const uint8_t *raw = (const uint8_t *)PyBytes_AS_STRING(next);
    for (size_t e = 0; e < entries; e++) {
        uint32_t target = width == 1 ? raw[e] : (uint32_t)raw[2 * e] | (uint32_t)raw[2 * e + 1] << 8;
        if (target >= m->states) {
            return bad("transitions");
        }
        m->next[e] = (uint16_t)target;
    }
    Py_ssize_t range = 0;
    for (Py_UCS4 ch = 0; ch < LOW_LIMIT; ch++) {
        while (range + 1 < m->ranges && m->starts[range + 1] <= ch) {
            range++;
        }
        m->low[ch] = m->range_class[range];
    }
    if (m->states <= 256) {
        m->latin1 = PyMem_Malloc((size_t)m->states * 256);
        if (m->latin1 == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (uint32_t q = 0; q < m->states; q++) {
            for (uint32_t ch = 0; ch < 256; ch++) {
                m->latin1[q << 8 | ch] = (uint8_t)m->next[(size_t)q * classes + m->low[ch]];
            }
        }
    }
    m->dead = NO_DEAD;
    for (uint32_t q = 0; q < m->states && m->dead == NO_DEAD; q++) {
        int stays = !m->accepting[q];
        for (uint32_t c = 0; stays && c < classes; c++) {
            stays = m->next[(size_t)q * classes + c] == q;
        }
        if (stays) {
            m->dead = q;
        }
    }
    return 0;
}

static int
matcher_clear(PyObject *self)
{
    Py_CLEAR(((Matcher *)self)->tables);
    return 0;
}

static void
matcher_dealloc(PyObject *self)
{
    Matcher *m = (Matcher *)self;
    PyObject_GC_UnTrack(self);
    matcher_clear(self);
    PyMem_Free(m->accepting);
    PyMem_Free(m->next);
    PyMem_Free(m->latin1);
    PyMem_Free(m->starts);
    PyMem_Free(m->range_class);
    Py_TYPE(self)->tp_free(self);
}

static int
matcher_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((Matcher *)self)->tables);
    return 0;
}

static PyObject *
matcher_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *tables;
    static char *keywords[] = {"tables", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Matcher", keywords, &tables)) {
        return NULL;
    }
    Matcher *m = (Matcher *)type->tp_alloc(type, 0);
    if (m == NULL) {
        return NULL;
    }
    /* tp_alloc zeroed the object: dealloc frees whatever load() allocated before failing */
    m->vectorcall = matcher_vectorcall;
    if (load(m, tables) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(tables);
    m->tables = tables;
    return (PyObject *)m;
}

static PyObject *
matcher_reduce(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(O(O))", (PyObject *)Py_TYPE(self), ((Matcher *)self)->tables);
}

static PyObject *
matcher_repr(PyObject *self)
{
    const Matcher *m = (const Matcher *)self;
    return PyUnicode_FromFormat("<Matcher: %u states, %u classes, %zd ranges>", m->states,
                                m->classes, m->ranges);
}

static PyMethodDef matcher_methods[] = {
    {"all", matcher_all, METH_O,
     "all(values): whether every item of values is accepted (False for a non-iterable)."},
    {"__reduce__", matcher_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef matcher_members[] = {
    {"tables", T_OBJECT, offsetof(Matcher, tables), READONLY, "The tables it was made from."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject MatcherType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "fhirgen.runtime._accel.Matcher",
    .tp_basicsize = sizeof(Matcher),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Matcher(tables): a fast check as a DFA over code points (fhirgen.regex_dfa);\n"
              "m(value) is True only for a str the automaton accepts, never raises.",
    .tp_new = matcher_new,
    .tp_dealloc = matcher_dealloc,
    .tp_traverse = matcher_traverse,
    .tp_clear = matcher_clear,
    .tp_vectorcall_offset = offsetof(Matcher, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_repr = matcher_repr,
    .tp_methods = matcher_methods,
    .tp_members = matcher_members,
};

int
fg_dfa_init(PyObject *module)
{
    if (PyType_Ready(&MatcherType) < 0) {
        return -1;
    }
    Py_INCREF(&MatcherType);
    if (PyModule_AddObject(module, "Matcher", (PyObject *)&MatcherType) < 0) {
        Py_DECREF(&MatcherType);
        return -1;
    }
    return 0;
}
