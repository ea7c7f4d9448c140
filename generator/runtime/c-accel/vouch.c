/* vouch: whether orjson's tree of a resource is the exact parse's, in one pass over its text.
 *
 * fhirgen.runtime.validate.vouch(tree, raw, max_depth) asks this first: True when *tree* is
 * exactly the tree the exact parse (validate.parse_json: json.loads with duplicate names
 * recorded, decimals as Decimal of their written text, integer -0 kept apart) makes of *raw*
 * and *raw* nests at most *max_depth* levels (None: no limit); False when *raw* is JSON nesting
 * deeper; None when not sure, and the Python vouch (validate._python_vouch) decides.
 *
 * The text is read once, as the exact parse reads it (Python's json module: the same grammar,
 * whitespace, escapes, surrogate pairs, strict UTF-8 and no raw control characters in strings;
 * a UTF-8 byte order mark, which only the exact parse skips, is left to Python), and each of
 * its values is compared with the tree's value at the same place, walked alongside: objects
 * with dicts (member by member in the dict's order), arrays with lists, strings with str (code
 * point by code point, any PyUnicode kind), true/false/null with the singletons, integers with
 * int (the same value; "-0" never: the exact parse keeps its text) and numbers with a fraction
 * with float, only when the number is written as repr() writes the float in its plain form
 * (so the exact parse's Decimal has the very text of repr(float): stricter than the Python
 * vouch, which takes "1.50" or "1e2" for the value they share with the float); a number with an
 * exponent is left to Python. Nothing of orjson is taken on trust, not even its decoding of
 * strings (which is exact; a lone surrogate escape such as "\ud800", which json.loads keeps,
 * is refused by orjson, so no tree of it comes here): when every comparison holds, the tree is
 * the exact parse's, whoever built it.
 *
 * Repeated names: each text object's names are compared, in order, with its dict's keys, and
 * at its end their count with the dict's size. When all of them hold, the object's names are
 * the dict's keys one for one, and a dict's keys are distinct: the object repeats no name (and
 * the exact parse's dict(pairs) is this dict, order and values included). So an object with a
 * repeated name (orjson keeps one entry for it, the last value at the first name's place)
 * never passes, whatever its depth or the values it dropped: its dict runs out of keys before
 * its names, or a name or a value differs from the tree's at its place. Each object is checked
 * on its own, so no argument over the order of objects is needed.
 *
 * Depth is counted as fhirgen.runtime.limits.too_deep counts it (each '{' or '[' one level).
 * Once the text is deeper than max_depth, or differs from the tree while a limit is given, the
 * tree is no longer compared and the rest is only read: JSON deeper than the limit is False
 * whatever it holds, as the Python vouch says for any dict tree of it. Without a limit a
 * difference is None at once. No Python code runs during the pass (only exact builtin types
 * are read), so the borrowed references of the walk stay valid and a bytearray cannot change. */
#include "accel.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The outcome of comparing one value. */
enum { SAME = 0, DIFFERENT = 1, NOT_JSON = 2, FAILED = 3 /* an exception is set */ };

/* One open container of the text, and the tree's container compared with it. */
typedef struct {
    PyObject *node;        /* the tree's dict or list (borrowed); unused once not comparing */
    Py_ssize_t next;       /* the dict's PyDict_Next position */
    Py_ssize_t count;      /* members or items of the text container so far (a list's
                            * next item is at this index) */
    unsigned char close;   /* '}' or ']' */
} Frame;

#define LOCAL_FRAMES 64

/* Bytes that may stand in a string as themselves (not '"', '\\', a control character or a
 * byte of a multi-byte UTF-8 sequence). */
static unsigned char PLAIN[256];

static void
init_plain(void)
{
    for (int byte = 0; byte < 256; byte++) {
        PLAIN[byte] = byte >= 0x20 && byte < 0x80 && byte != '"' && byte != '\\';
    }
}

#if PY_LITTLE_ENDIAN && defined(__GNUC__)
#define WORDS 1
static const uint64_t ONES = 0x0101010101010101ULL, HIGHS = 0x8080808080808080ULL;

/* The high bit of each byte of *word* that is not plain ('"', '\\', below 0x20 or from 0x80).
 * A borrow only leaves a byte that is one of these, so the lowest flagged byte is the first. */
static inline uint64_t
not_plain(uint64_t word)
{
    uint64_t quote = word ^ (ONES * '"'), backslash = word ^ (ONES * '\\');
    return (((quote - ONES) & ~quote) | ((backslash - ONES) & ~backslash)
            | ((word - ONES * 0x20) & ~word) | word) & HIGHS;
}
#endif

/* The end of the run of plain bytes from p: eight bytes at a time where words can be read so. */
static inline const unsigned char *
plain_run(const unsigned char *p, const unsigned char *end)
{
#ifdef WORDS
    while (end - p >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        uint64_t hits = not_plain(word);
        if (hits != 0) {
            return p + (__builtin_ctzll(hits) >> 3);
        }
        p += 8;
    }
#endif
    while (p < end && PLAIN[*p]) {
        p++;
    }
    return p;
}

#ifdef WORDS
/* The n < 8 bytes at *chars* as the low bytes of a word (overlapping loads: none past them). */
static inline uint64_t
low_bytes(const unsigned char *chars, Py_ssize_t n)
{
    if (n >= 4) {
        uint32_t low, high;
        memcpy(&low, chars, 4);
        memcpy(&high, chars + n - 4, 4);
        return (uint64_t)low | ((uint64_t)high << (8 * (n - 4)));
    }
    if (n >= 2) {
        uint16_t low, high;
        memcpy(&low, chars, 2);
        memcpy(&high, chars + n - 2, 2);
        return (uint64_t)low | ((uint64_t)high << (8 * (n - 2)));
    }
    return n == 1 ? chars[0] : 0;
}
#endif

/* Whether the n bytes at p are plain and those of *chars* (the text holds 8 bytes from p at
 * least when *room*). */
static inline int
same_plain(const unsigned char *p, const unsigned char *chars, Py_ssize_t n, int room)
{
#ifdef WORDS
    uint64_t word, expected;
    if (n >= 8) {
        for (Py_ssize_t i = 0; i < n - 8; i += 8) {
            memcpy(&word, p + i, 8);
            memcpy(&expected, chars + i, 8);
            if (word != expected || not_plain(word) != 0) {
                return 0;
            }
        }
        memcpy(&word, p + n - 8, 8);  /* the last 8, perhaps again */
        memcpy(&expected, chars + n - 8, 8);
        return word == expected && not_plain(word) == 0;
    }
    if (room) {
        uint64_t mask = n == 0 ? 0 : ~0ULL >> (64 - 8 * n);  /* the low n bytes */
        memcpy(&word, p, 8);
        return ((word ^ low_bytes(chars, n)) & mask) == 0 && (not_plain(word) & mask) == 0;
    }
#else
    (void)room;
#endif
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] != chars[i] || !PLAIN[p[i]]) {
            return 0;
        }
    }
    return 1;
}

static inline int
hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The value of the four hex digits at p (json's \uXXXX), or -1. */
static inline long
hex4(const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4) {
        return -1;
    }
    long value = 0;
    for (int k = 0; k < 4; k++) {
        int digit = hex_digit(p[k]);
        if (digit < 0) {
            return -1;
        }
        value = value * 16 + digit;
    }
    return value;
}

/* The code point of the multi-byte UTF-8 sequence at *pp (strict, as Python's decoder: no
 * overlong forms, surrogates or values past U+10FFFF), *pp moved past it; -1 if invalid. */
static inline long
utf8_char(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    unsigned char lead = p[0];
    Py_ssize_t left = end - p;
    if (lead < 0xC2) {
        return -1;
    }
    if (lead < 0xE0) {
        if (left < 2 || (p[1] & 0xC0) != 0x80) {
            return -1;
        }
        *pp = p + 2;
        return ((long)(lead & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (lead < 0xF0) {
        if (left < 3) {
            return -1;
        }
        unsigned char low = lead == 0xE0 ? 0xA0 : 0x80, high = lead == 0xED ? 0x9F : 0xBF;
        if (p[1] < low || p[1] > high || (p[2] & 0xC0) != 0x80) {
            return -1;
        }
        *pp = p + 3;
        return ((long)(lead & 0x0F) << 12) | ((long)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    if (lead < 0xF5) {
        if (left < 4) {
            return -1;
        }
        unsigned char low = lead == 0xF0 ? 0x90 : 0x80, high = lead == 0xF4 ? 0x8F : 0xBF;
        if (p[1] < low || p[1] > high || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) {
            return -1;
        }
        *pp = p + 4;
        return ((long)(lead & 0x07) << 18) | ((long)(p[1] & 0x3F) << 12)
               | ((long)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    }
    return -1;
}

/* The JSON string whose opening quote is at p, decoded as Python's json module decodes it,
 * against *str* (NULL: only read it): where it ends (after its closing quote) when SAME, else
 * NULL and *outcome* says why (DIFFERENT or NOT_JSON). */
static const unsigned char *
match_string_any(const unsigned char *p, const unsigned char *end, PyObject *str, int *outcome)
{
    p++;
    int kind = PyUnicode_1BYTE_KIND;
    const void *data = NULL;
    Py_ssize_t length = 0, i = 0;
    if (str != NULL) {
        if (!PyUnicode_CheckExact(str) || !PyUnicode_IS_READY(str)) {
            return *outcome = DIFFERENT, NULL;
        }
        kind = PyUnicode_KIND(str);
        data = PyUnicode_DATA(str);
        length = PyUnicode_GET_LENGTH(str);
    }
    for (;;) {
        const unsigned char *run = p;
        p = plain_run(p, end);
        if (str != NULL && p > run) {
            Py_ssize_t n = p - run;
            if (n > length - i) {
                return *outcome = DIFFERENT, NULL;
            }
            if (kind == PyUnicode_1BYTE_KIND) {  /* plain bytes are ASCII: Latin-1 alike */
                if (memcmp(run, (const Py_UCS1 *)data + i, (size_t)n) != 0) {
                    return *outcome = DIFFERENT, NULL;
                }
            }
            else if (kind == PyUnicode_2BYTE_KIND) {
                const Py_UCS2 *chars = (const Py_UCS2 *)data + i;
                for (Py_ssize_t k = 0; k < n; k++) {
                    if (chars[k] != run[k]) {
                        return *outcome = DIFFERENT, NULL;
                    }
                }
            }
            else {
                const Py_UCS4 *chars = (const Py_UCS4 *)data + i;
                for (Py_ssize_t k = 0; k < n; k++) {
                    if (chars[k] != run[k]) {
                        return *outcome = DIFFERENT, NULL;
                    }
                }
            }
            i += n;
        }
        if (p == end) {
            return *outcome = NOT_JSON, NULL;
        }
        long c = *p;
        if (c == '"') {
            if (str != NULL && i != length) {
                return *outcome = DIFFERENT, NULL;
            }
            return p + 1;
        }
        if (c == '\\') {
            if (end - p < 2) {
                return *outcome = NOT_JSON, NULL;
            }
            switch (p[1]) {
            case '"': case '\\': case '/': c = p[1]; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u':
                c = hex4(p + 2, end);
                if (c < 0) {
                    return *outcome = NOT_JSON, NULL;
                }
                p += 4;
                /* a high surrogate and a low one escaped right after it are one character, as
                 * json's scanstring joins them; any other escape after it is read on its own */
                if (c >= 0xD800 && c <= 0xDBFF && end - p >= 8 && p[2] == '\\' && p[3] == 'u') {
                    long low = hex4(p + 4, end);
                    if (low < 0) {
                        return *outcome = NOT_JSON, NULL;
                    }
                    if (low >= 0xDC00 && low <= 0xDFFF) {
                        c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
                        p += 6;
                    }
                }
                break;
            default:
                return *outcome = NOT_JSON, NULL;
            }
            p += 2;
        }
        else if (c < 0x20) {  /* json.loads (strict) refuses raw control characters */
            return *outcome = NOT_JSON, NULL;
        }
        else {
            c = utf8_char(&p, end);
            if (c < 0) {
                return *outcome = NOT_JSON, NULL;
            }
        }
        if (str != NULL) {
            if (i >= length || PyUnicode_READ(kind, data, i) != (Py_UCS4)c) {
                return *outcome = DIFFERENT, NULL;
            }
            i++;
        }
    }
}

/* match_string_any, with the common case inline: an ASCII str, a string of plain bytes. */
static inline const unsigned char *
match_string(const unsigned char *p, const unsigned char *end, PyObject *str, int *outcome)
{
    if (str != NULL && PyUnicode_CheckExact(str) && PyUnicode_IS_COMPACT_ASCII(str)) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(str);
        if (end - p > length + 1 && p[length + 1] == '"'
            && same_plain(p + 1, PyUnicode_1BYTE_DATA(str), length, end - p > 8)) {
            return p + length + 2;
        }
    }
    return match_string_any(p, end, str, outcome);
}

/* A number token, read once: its sign, digits and where its parts are. */
typedef struct {
    const unsigned char *start, *ints, *point, *end;  /* point: NULL without a fraction */
    Py_ssize_t zeros;      /* zeros after the point of a number below 1, before its first digit */
    Py_ssize_t significant;  /* digits from the first one not 0 (trailing zeros counted) */
    int negative;
    uint64_t m;            /* those digits as an integer, exact when there are at most 19 */
} Number;

/* An integer token against the tree's value: SAME only for an int of its value. "-0" is never
 * the same: the exact parse keeps its text, no int does. Past 64 bits orjson makes a float. */
static int
same_integer(PyObject *value, const Number *number)
{
    if (!PyLong_CheckExact(value) || number->significant > 20) {
        return DIFFERENT;
    }
    unsigned long long magnitude = number->m;
    if (number->significant == 20) {  /* 20 digits: may be past 64 bits, read them again */
        magnitude = 0;
        for (const unsigned char *p = number->ints; p < number->end; p++) {
            unsigned digit = (unsigned)(*p - '0');
            if (magnitude > (ULLONG_MAX - digit) / 10) {
                return DIFFERENT;
            }
            magnitude = magnitude * 10 + digit;
        }
    }
    if (number->negative && magnitude == 0) {
        return DIFFERENT;
    }
    int overflow;
    long long small = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (small == -1 && PyErr_Occurred()) {
        return FAILED;
    }
    if (overflow == 0) {
        if (number->negative) {
            return small < 0 && 0ULL - (unsigned long long)small == magnitude ? SAME : DIFFERENT;
        }
        return small >= 0 && (unsigned long long)small == magnitude ? SAME : DIFFERENT;
    }
    if (overflow < 0 || number->negative) {
        return DIFFERENT;
    }
    unsigned long long large = PyLong_AsUnsignedLongLong(value);
    if (large == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return FAILED;
        }
        PyErr_Clear();  /* past 64 bits: not the token's value */
        return DIFFERENT;
    }
    return large == magnitude ? SAME : DIFFERENT;
}

#if FLT_EVAL_METHOD == 0
/* Powers of ten a double holds exactly. */
static const double POWERS[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
#endif

/* A number token with a fraction and no exponent against the tree's value: SAME only for a
 * float whose repr() is the token, character for character.
 *
 * repr() writes the shortest digits that give the float back, in plain form when
 * 1e-4 <= |x| < 1e16 (Python's format_float_short: decpt in (-4, 16]): no leading zero but
 * the one before the point of a value below 1, at most 3 zeros after that point, at most 16
 * integer digits, no trailing zero in the fraction but the ".0" of a whole value, "0.0" and
 * "-0.0" for the zeros. A token of that form with at most 15 digits (trailing zeros counted)
 * is decided without repr: 15 digits are DBL_DIG, so no other decimal of 15 digits or fewer
 * gives the same double and the token's digits are the shortest; its double is the
 * correctly rounded m / 10^k (Clinger's fast path: m < 2^53 and 10^k, k <= 22, are exact and
 * one IEEE division rounds correctly), compared with the float. Longer tokens ask repr. */
static int
same_float(PyObject *value, const Number *number)
{
    if (!PyFloat_CheckExact(value)) {
        return DIFFERENT;
    }
    double x = PyFloat_AS_DOUBLE(value);
    Py_ssize_t int_digits = number->point - number->ints;
    Py_ssize_t fraction_digits = number->end - number->point - 1;
    if (int_digits > 16) {
        return DIFFERENT;  /* repr writes an exponent from 1e16 on */
    }
    if (fraction_digits > 1 && number->end[-1] == '0') {
        return DIFFERENT;  /* a trailing zero repr does not write */
    }
    if (number->significant == 0) {  /* "0.0" or "-0.0" (longer zeros end in 0) */
        return x == 0.0 && !signbit(x) == !number->negative ? SAME : DIFFERENT;
    }
    if (number->zeros > 3) {
        return DIFFERENT;  /* repr writes an exponent below 1e-4 */
    }
#if FLT_EVAL_METHOD == 0
    if (number->significant <= 15 && fraction_digits <= 22) {
        double exact = (double)number->m / POWERS[fraction_digits];
        return x == (number->negative ? -exact : exact) ? SAME : DIFFERENT;
    }
#endif
    char *written = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (written == NULL) {
        return FAILED;
    }
    size_t length = (size_t)(number->end - number->start);
    int same = strlen(written) == length && memcmp(written, number->start, length) == 0;
    PyMem_Free(written);
    return same ? SAME : DIFFERENT;
}

#define SKIP_WHITESPACE()                                                                  \
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {             \
        p++;                                                                               \
    }

/* The tree differs from the text here: not sure, unless the text turns out too deep, which
 * only the rest of it can tell (without a limit, nothing can: not sure at once). */
#define MISMATCH()                                                                         \
    do {                                                                                   \
        if (max_depth < 0) {                                                               \
            goto not_sure;                                                                 \
        }                                                                                  \
        comparing = 0;                                                                     \
        differs = 1;                                                                       \
    } while (0)

static PyObject *
vouch(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "vouch() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *tree = args[0], *raw = args[1], *limit = args[2];
    const unsigned char *p, *end;
    if (PyBytes_Check(raw)) {
        p = (const unsigned char *)PyBytes_AS_STRING(raw);
        end = p + PyBytes_GET_SIZE(raw);
    }
    else if (PyByteArray_Check(raw)) {
        p = (const unsigned char *)PyByteArray_AS_STRING(raw);
        end = p + PyByteArray_GET_SIZE(raw);
    }
    else {
        Py_RETURN_NONE;
    }
    long long max_depth = -1;  /* no limit */
    if (limit != Py_None) {
        if (!PyLong_CheckExact(limit)) {
            Py_RETURN_NONE;
        }
        int overflow;
        max_depth = PyLong_AsLongLongAndOverflow(limit, &overflow);
        if (max_depth == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow != 0 || max_depth < 1) {
            Py_RETURN_NONE;  /* not a limit Limits allows: Python's answer */
        }
    }
    if (!PyDict_CheckExact(tree)) {
        Py_RETURN_NONE;
    }

    Frame local[LOCAL_FRAMES];
    Frame *frames = local, *top = NULL;
    Py_ssize_t depth = 0, capacity = LOCAL_FRAMES;
    PyObject *expected = tree;  /* the tree's value for the text's next value */
    /* comparing: the tree is still compared with the text (off once it differs or the text
     * is too deep: the rest is only read); differs: it differed; deep: too deep */
    int comparing = 1, differs = 0, deep = 0, outcome = SAME;
    const unsigned char *q;
    PyObject *answer = NULL;

value:
    SKIP_WHITESPACE();
    if (p == end) {
        goto not_sure;
    }
    switch (*p) {
    case '{':
    case '[':
        if (comparing && (*p == '{' ? !PyDict_CheckExact(expected)
                                    : !PyList_CheckExact(expected))) {
            MISMATCH();
        }
        if (depth == capacity) {
            Frame *grown;
            if (capacity > PY_SSIZE_T_MAX / 2 / (Py_ssize_t)sizeof(Frame)) {
                PyErr_NoMemory();
                goto failed;
            }
            capacity *= 2;
            if (frames == local) {
                grown = PyMem_Malloc((size_t)capacity * sizeof(Frame));
                if (grown != NULL) {
                    memcpy(grown, local, sizeof(local));
                }
            }
            else {
                grown = PyMem_Realloc(frames, (size_t)capacity * sizeof(Frame));
            }
            if (grown == NULL) {
                PyErr_NoMemory();
                goto failed;
            }
            frames = grown;
        }
        top = &frames[depth++];
        top->node = comparing ? expected : NULL;
        top->next = 0;
        top->count = 0;
        top->close = (unsigned char)(*p + 2);  /* '{' + 2 == '}', '[' + 2 == ']' */
        if (max_depth >= 0 && depth > max_depth) {
            deep = 1;  /* too deep: the answer is False if the rest is JSON */
            comparing = 0;
        }
        p++;
        SKIP_WHITESPACE();
        if (p == end) {
            goto not_sure;
        }
        if (*p == top->close) {
            p++;
            goto close;
        }
        if (top->close == '}') {
            goto name;
        }
        goto item;
    case '"':
        q = match_string(p, end, comparing ? expected : NULL, &outcome);
        if (q == NULL) {
            if (outcome != DIFFERENT) {
                goto not_sure;
            }
            MISMATCH();
            q = match_string(p, end, NULL, &outcome);
            if (q == NULL) {
                goto not_sure;
            }
        }
        p = q;
        goto after;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0) {
            goto not_sure;
        }
        if (comparing && expected != Py_True) {
            MISMATCH();
        }
        p += 4;
        goto after;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0) {
            goto not_sure;
        }
        if (comparing && expected != Py_False) {
            MISMATCH();
        }
        p += 5;
        goto after;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0) {
            goto not_sure;
        }
        if (comparing && expected != Py_None) {
            MISMATCH();
        }
        p += 4;
        goto after;
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9': {
        Number number = {.start = p, .point = NULL, .zeros = 0, .negative = *p == '-',
                         .significant = 0, .m = 0};
        int exponent = 0;
        if (number.negative) {
            p++;
        }
        number.ints = p;
        if (p == end || *p < '0' || *p > '9') {
            goto not_sure;
        }
        if (*p == '0') {
            p++;  /* a leading zero stands alone: a digit after it is not JSON (read next) */
        }
        else {
            do {
                number.m = number.m * 10 + (uint64_t)(*p++ - '0');  /* wraps past 19 digits */
                number.significant++;
            } while (p < end && *p >= '0' && *p <= '9');
        }
        if (p < end && *p == '.') {
            number.point = p++;
            const unsigned char *digits = p;
            if (number.significant == 0) {
                while (p < end && *p == '0') {
                    p++;
                }
                number.zeros = p - digits;
            }
            while (p < end && *p >= '0' && *p <= '9') {
                number.m = number.m * 10 + (uint64_t)(*p++ - '0');
                number.significant++;
            }
            if (p == digits) {
                goto not_sure;
            }
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
            exponent = 1;
            p++;
            if (p < end && (*p == '+' || *p == '-')) {
                p++;
            }
            const unsigned char *digits = p;
            while (p < end && *p >= '0' && *p <= '9') {
                p++;
            }
            if (p == digits) {
                goto not_sure;
            }
        }
        number.end = p;
        if (comparing) {
            if (exponent) {
                outcome = DIFFERENT;  /* repr's plain form has none: Python decides */
            }
            else if (number.point == NULL) {
                outcome = same_integer(expected, &number);
            }
            else {
                outcome = same_float(expected, &number);
            }
            if (outcome == FAILED) {
                goto failed;
            }
            if (outcome != SAME) {
                MISMATCH();
            }
        }
        goto after;
    }
    default:
        goto not_sure;
    }

after:  /* after a value: the end of the text, or a separator or the end of its container */
    SKIP_WHITESPACE();
    if (depth == 0) {
        if (p != end) {
            goto not_sure;
        }
        answer = deep ? Py_False : differs ? Py_None : Py_True;
        goto done;
    }
    if (p == end) {
        goto not_sure;
    }
    top = &frames[depth - 1];
    if (*p == ',') {
        p++;
        if (top->close == '}') {
            goto name;
        }
        goto item;
    }
    if (*p == top->close) {
        p++;
        goto close;
    }
    goto not_sure;

close:  /* the container of the top frame ended: the tree's must have no more entries */
    top = &frames[depth - 1];
    if (comparing && top->count != (top->close == '}' ? PyDict_GET_SIZE(top->node)
                                                       : PyList_GET_SIZE(top->node))) {
        MISMATCH();  /* fewer names than keys, or items */
    }
    depth--;
    goto after;

name:  /* a member's name, compared with the next key of the dict, then its value */
    SKIP_WHITESPACE();
    if (p == end || *p != '"') {
        goto not_sure;
    }
    top->count++;
    q = NULL;
    if (comparing) {
        PyObject *key, *item;
        if (PyDict_Next(top->node, &top->next, &key, &item)) {
            expected = item;
            q = match_string(p, end, key, &outcome);
            if (q == NULL && outcome != DIFFERENT) {
                goto not_sure;
            }
        }
        if (q == NULL) {
            MISMATCH();  /* more names than keys (a repeated name), or another name */
        }
    }
    if (q == NULL) {
        q = match_string(p, end, NULL, &outcome);
        if (q == NULL) {
            goto not_sure;
        }
    }
    p = q;
    SKIP_WHITESPACE();
    if (p == end || *p != ':') {
        goto not_sure;
    }
    p++;
    goto value;

item:  /* an array's item, compared with the list's next item */
    if (comparing) {
        if (top->count < PyList_GET_SIZE(top->node)) {
            expected = PyList_GET_ITEM(top->node, top->count);
        }
        else {
            MISMATCH();  /* more items than the list's */
        }
    }
    top->count++;
    goto value;

not_sure:  /* not JSON as the exact parse reads it, or a tree that differs from it */
    answer = Py_None;
done:
    if (frames != local) {
        PyMem_Free(frames);
    }
    return Py_NewRef(answer);
failed:
    if (frames != local) {
        PyMem_Free(frames);
    }
    return NULL;
}

static PyMethodDef vouch_methods[] = {
    {"vouch", (PyCFunction)(void (*)(void))vouch, METH_FASTCALL,
     "vouch(tree, raw, max_depth) -> True / False / None\n\n"
     "True: tree is the exact parse of raw (bytes or bytearray) and raw nests at most "
     "max_depth levels (None: no limit); False: raw is JSON nesting deeper; None: not sure "
     "(fhirgen.runtime.validate.vouch then decides in Python)."},
    {NULL, NULL, 0, NULL},
};

int
fg_vouch_init(PyObject *module)
{
    init_plain();
    return PyModule_AddFunctions(module, vouch_methods);
}
