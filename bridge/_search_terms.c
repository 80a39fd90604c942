/* Search terms in C: exactly what bridge/search.py's pure-Python `_py_terms` gives (its reference and
 * fallback), at a fraction of the cost. Indexing ran that regex over every stored message, and the writer
 * thread held the GIL for it (~40 us per 400-character message; bench/README.md).
 *
 * The text is lowered by str.lower() itself (full case mapping, final sigma: a lowered character may split a
 * word, so nothing is lowered piecewise). Then, code point by code point, as the regex does:
 *   CJK (the ranges of search.py's _CJK): a run of them gives its overlapping pairs, a lone one itself;
 *   a word character (sre's \w for str: Py_UNICODE_ISALNUM, or '_'), neither '_' nor CJK: a run is a word;
 *   anything else separates.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *lower_name;  /* "lower", interned */

static inline int
is_cjk(Py_UCS4 c)
{
    return (c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0xac00 && c <= 0xd7af);
}

static inline int
is_word(Py_UCS4 c)
{
    if (c < 128) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
    }
    return !is_cjk(c) && Py_UNICODE_ISALNUM(c);
}

typedef struct {
    Py_ssize_t start, len;
} Span;

/* The lowered text and its terms as spans of it, in text order. */
typedef struct {
    PyObject *low;
    Span *spans;
    Py_ssize_t count;
} Terms;

static int
find_terms(PyObject *text, Terms *out)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "text must be str, not %.100s", Py_TYPE(text)->tp_name);
        return -1;
    }
    PyObject *low = PyObject_CallMethodNoArgs(text, lower_name);
    if (low == NULL) {
        return -1;
    }
    if (!PyUnicode_Check(low)) {
        PyErr_SetString(PyExc_TypeError, "text.lower() must return str");
        Py_DECREF(low);
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(low);
    int kind = PyUnicode_KIND(low);
    const void *data = PyUnicode_DATA(low);
    Span *spans = PyMem_Malloc(sizeof(Span) * (size_t)(n > 0 ? n : 1));  /* at most one term per character */
    if (spans == NULL) {
        Py_DECREF(low);
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t count = 0, i = 0;
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        Py_ssize_t j = i + 1;
        if (is_cjk(c)) {
            while (j < n && is_cjk(PyUnicode_READ(kind, data, j))) {
                j++;
            }
            if (j - i == 1) {
                spans[count++] = (Span){i, 1};
            } else {
                for (Py_ssize_t k = i; k + 1 < j; k++) {
                    spans[count++] = (Span){k, 2};
                }
            }
        } else if (is_word(c)) {
            while (j < n && is_word(PyUnicode_READ(kind, data, j))) {
                j++;
            }
            spans[count++] = (Span){i, j - i};
        }
        i = j;
    }
    out->low = low;
    out->spans = spans;
    out->count = count;
    return 0;
}

static void
free_terms(Terms *t)
{
    Py_DECREF(t->low);
    PyMem_Free(t->spans);
}

PyDoc_STRVAR(terms_doc, "terms(text, /)\n--\n\nThe search terms of text, in text order (bridge/search.py).");

static PyObject *
terms(PyObject *module, PyObject *text)
{
    (void)module;
    Terms t;
    if (find_terms(text, &t) < 0) {
        return NULL;
    }
    PyObject *list = PyList_New(t.count);
    if (list != NULL) {
        for (Py_ssize_t k = 0; k < t.count; k++) {
            PyObject *s = PyUnicode_Substring(t.low, t.spans[k].start, t.spans[k].start + t.spans[k].len);
            if (s == NULL) {
                Py_CLEAR(list);
                break;
            }
            PyList_SET_ITEM(list, k, s);
        }
    }
    free_terms(&t);
    return list;
}

static Py_uhash_t
span_hash(const char *bytes, Py_ssize_t size)
{
    Py_uhash_t h = 14695981039346656037ULL;  /* FNV-1a */
    for (Py_ssize_t k = 0; k < size; k++) {
        h = (h ^ (unsigned char)bytes[k]) * 1099511628211ULL;
    }
    return h;
}

PyDoc_STRVAR(index_text_doc,
             "index_text(text, /)\n--\n\nEach term once, in order of first occurrence, joined by spaces.");

static PyObject *
index_text(PyObject *module, PyObject *text)
{
    (void)module;
    Terms t;
    if (find_terms(text, &t) < 0) {
        return NULL;
    }
    PyObject *result = NULL;
    int kind = PyUnicode_KIND(t.low);
    const char *data = PyUnicode_DATA(t.low);
    size_t cap = 8;
    while (cap < (size_t)t.count * 2) {
        cap <<= 1;
    }
    Py_ssize_t *slots = PyMem_Malloc(sizeof(Py_ssize_t) * cap);  /* a span's index, or -1: open addressing */
    Py_ssize_t length = 0;
    for (Py_ssize_t k = 0; k < t.count; k++) {
        length += t.spans[k].len + 1;
    }
    char *buf = PyMem_Malloc((size_t)(length > 0 ? length : 1) * (size_t)kind);
    if (slots == NULL || buf == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t s = 0; s < cap; s++) {
        slots[s] = -1;
    }
    Py_ssize_t written = 0;  /* in characters */
    for (Py_ssize_t k = 0; k < t.count; k++) {
        const char *bytes = data + t.spans[k].start * kind;
        Py_ssize_t size = t.spans[k].len * kind;
        size_t s = (size_t)span_hash(bytes, size) & (cap - 1);
        int seen = 0;
        while (slots[s] >= 0) {
            Span *o = &t.spans[slots[s]];
            if (o->len == t.spans[k].len && memcmp(data + o->start * kind, bytes, (size_t)size) == 0) {
                seen = 1;
                break;
            }
            s = (s + 1) & (cap - 1);
        }
        if (seen) {
            continue;
        }
        slots[s] = k;
        if (written > 0) {
            switch (kind) {
            case PyUnicode_1BYTE_KIND: ((Py_UCS1 *)buf)[written] = ' '; break;
            case PyUnicode_2BYTE_KIND: ((Py_UCS2 *)buf)[written] = ' '; break;
            default: ((Py_UCS4 *)buf)[written] = ' '; break;
            }
            written++;
        }
        memcpy(buf + written * kind, bytes, (size_t)size);
        written += t.spans[k].len;
    }
    /* narrowed to the terms' widest character: a str must be in its canonical kind */
    result = PyUnicode_FromKindAndData(kind, buf, written);
done:
    PyMem_Free(slots);
    PyMem_Free(buf);
    free_terms(&t);
    return result;
}

static PyMethodDef methods[] = {
    {"terms", terms, METH_O, terms_doc},
    {"index_text", index_text, METH_O, index_text_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_search_terms", "Search terms in C (bridge/search.py holds the reference).", -1, methods,
};

PyMODINIT_FUNC
PyInit__search_terms(void)
{
    lower_name = PyUnicode_InternFromString("lower");
    if (lower_name == NULL) {
        return NULL;
    }
    return PyModule_Create(&module);
}
