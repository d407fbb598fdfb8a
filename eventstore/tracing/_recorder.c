/*
 * The compiled recorder: the hot path of tracing, written against the CPython API.
 *
 * A Recorder appends every event, delivery, extra lineage edge and late end_seq to typed
 * column buffers (int64 seqs and clock readings, int32 name codes, one UTF-8 byte buffer plus
 * end offsets for payloads) and hands them to Python as bytes laid out as Arrow buffers
 * (take()), so a drained batch becomes Arrow arrays without converting value by value.
 * The API and its promises are in recorder.py; the Python side of drain() is in
 * compiled_recorder.py.
 *
 * Concurrency: everything here runs holding the GIL. Event rows must stay contiguous and
 * sorted by seq although several threads publish and another drains, so begin() runs every
 * step that may execute Python code (attribute lookups, str(), orjson, hooks, the ContextVar)
 * first, then reserves buffer room, and only then assigns the seq and writes the row: from
 * the seq to the end of the row nothing can run Python code, so no other thread can interleave.
 * Conversely no pointer into a buffer is kept across a call into Python (a handler may drain,
 * which empties the buffers), rows are addressed by seq - base each time.
 *
 * Causes a publisher names (caused_by=, parents=) are resolved here too, and the pruning promise
 * kept (lineage.py says what it is; that module does the same for the pure-Python twin): the
 * ancestors of an event with named parents get an end_seq that reaches it when it ends, found
 * in the buffer, in the batch drained last, in a bounded memory of named parents, or (rarely)
 * in the tracer's ring through the `recent` hook.
 *
 * Closing: begin_close() lets the dispatches still open finish (their deliveries, their ends and
 * the events their handlers publish are recorded) while new root events are refused; close()
 * refuses everything. Every frame begun and not ended is on the recorder's list of open frames
 * with the thread that began it (a few pointer writes per dispatch, under the GIL), so the
 * tracer can wait for the dispatches of other threads before it drains the last batch
 * (closing.py) and name the ones that never ended.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <structmember.h>

#include <stdint.h>
#include <string.h>
#include <time.h>

#define NONE_NS INT64_MIN /* null sim_time / emitted_ns */
#define TYPE_CACHE 64     /* event types cached by identity */
#define SOURCE_CACHE 64   /* sources cached by identity */
#define NAME_CACHE 64     /* handler names cached by identity */
#define FRAME_FREELIST 32 /* frames kept for reuse */

enum { A_EVENT_TYPE, A_TIMESTAMP, A_PAYLOAD, A_METADATA, N_ATTRS };

/* RecorderObject.closed: open; closing (begin_close: only open dispatches go on); closed */
enum { OPEN, CLOSING, CLOSED };

static PyObject *str_event_type, *str_timestamp, *str_payload, *str_metadata, *str_partition_key,
    *str_event_id, *str_utcoffset, *str_caused_by, *str_get;

static inline int64_t
clock_ns(void)
{
    /* CLOCK_MONOTONIC is what time.perf_counter_ns() reads on Linux, so readings taken here and
       in Python (a bus calling delivered() itself) are comparable. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ growable buffers */

typedef struct {
    char *p;
    size_t len, cap;
} Bytes;

static int
bytes_reserve(Bytes *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = PyMem_RawRealloc(b->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Grow one column to hold cap items; the column keeps its content if a later one fails. */
static int
grow(void **column, size_t item, Py_ssize_t cap)
{
    void *p = PyMem_RawRealloc(*column, item * (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *column = p;
    return 0;
}

#define GROW(col, cap) grow((void **)&(col), sizeof(*(col)), (cap))

typedef struct {
    Py_ssize_t n, cap;
    int32_t *type, *source;   /* name codes; source -1 = null */
    int64_t *time;            /* us since 1970 (UTC); NONE_NS = null */
    int64_t *cause, *root;    /* cause 0 = null (seqs start at 1) */
    int64_t *end;             /* 0 = not known yet */
    int64_t *created, *emitted; /* raw clock; emitted NONE_NS = not known yet */
    int64_t *payload_end, *part_end; /* end offsets into payload / part */
    uint8_t *part_valid;
    Bytes payload, part;
} Events;

typedef struct {
    Py_ssize_t n, cap;
    int64_t *seq, *received, *processed, *self_ns, *error_end;
    int32_t *code;
    uint8_t *error_valid;
    Bytes error;
} Deliveries;

typedef struct {
    Py_ssize_t n, cap;
    int64_t *parent, *child;
    int32_t *kind;
} Extras;

typedef struct {
    Py_ssize_t n, cap;
    int64_t *seq, *end, *emitted; /* emitted NONE_NS = null */
} Updates;

/* The (cause, root) columns of the batch drained last. Draining and adding the batch to the
   tracer's ring are two steps, and a publisher in another thread may run between them and
   name an event of that batch: it is found here, not reported unknown. */
typedef struct {
    int64_t base; /* seq of its first row */
    Py_ssize_t n, cap;
    int64_t *cause, *root;
} LastDrained;

/* Keep the first n (cause, root) pairs of `e`, whose first row is event `base`. Best effort:
   without memory the batch is only in the ring (a lookup may then miss it, never misread it). */
static void
last_drained_keep(LastDrained *l, const Events *e, int64_t base, Py_ssize_t n)
{
    if (n > l->cap) {
        int64_t *cause = PyMem_RawRealloc(l->cause, sizeof(int64_t) * (size_t)n);
        if (cause != NULL)
            l->cause = cause;
        int64_t *root = cause == NULL ? NULL : PyMem_RawRealloc(l->root, sizeof(int64_t) * (size_t)n);
        if (root != NULL)
            l->root = root;
        if (cause == NULL || root == NULL) {
            l->n = 0;
            return;
        }
        l->cap = n;
    }
    memcpy(l->cause, e->cause, sizeof(int64_t) * (size_t)n);
    memcpy(l->root, e->root, sizeof(int64_t) * (size_t)n);
    l->base = base;
    l->n = n;
}

static int
events_reserve(Events *e, size_t payload_len, size_t part_len)
{
    if (e->n >= e->cap) {
        Py_ssize_t cap = e->cap ? e->cap * 2 : 1024;
        if (GROW(e->type, cap) || GROW(e->source, cap) || GROW(e->time, cap) ||
            GROW(e->cause, cap) || GROW(e->root, cap) || GROW(e->end, cap) ||
            GROW(e->created, cap) || GROW(e->emitted, cap) || GROW(e->payload_end, cap) ||
            GROW(e->part_end, cap) || GROW(e->part_valid, cap))
            return -1;
        e->cap = cap;
    }
    if (bytes_reserve(&e->payload, payload_len) || bytes_reserve(&e->part, part_len))
        return -1;
    return 0;
}

static int
deliveries_reserve(Deliveries *d, size_t error_len)
{
    if (d->n >= d->cap) {
        Py_ssize_t cap = d->cap ? d->cap * 2 : 1024;
        if (GROW(d->seq, cap) || GROW(d->received, cap) || GROW(d->processed, cap) ||
            GROW(d->self_ns, cap) || GROW(d->error_end, cap) || GROW(d->code, cap) ||
            GROW(d->error_valid, cap))
            return -1;
        d->cap = cap;
    }
    return bytes_reserve(&d->error, error_len);
}

static int
extras_reserve(Extras *x, Py_ssize_t count)
{
    if (x->n + count > x->cap) {
        Py_ssize_t cap = x->cap ? x->cap * 2 : 64;
        while (cap < x->n + count)
            cap *= 2;
        if (GROW(x->parent, cap) || GROW(x->child, cap) || GROW(x->kind, cap))
            return -1;
        x->cap = cap;
    }
    return 0;
}

static int
updates_reserve(Updates *u)
{
    if (u->n >= u->cap) {
        Py_ssize_t cap = u->cap ? u->cap * 2 : 64;
        if (GROW(u->seq, cap) || GROW(u->end, cap) || GROW(u->emitted, cap))
            return -1;
        u->cap = cap;
    }
    return 0;
}

static void
events_free(Events *e)
{
    void *cols[] = {e->type, e->source, e->time, e->cause, e->root, e->end, e->created,
                    e->emitted, e->payload_end, e->part_end, e->part_valid, e->payload.p,
                    e->part.p};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        PyMem_RawFree(cols[i]);
    memset(e, 0, sizeof(*e));
}

static void
deliveries_free(Deliveries *d)
{
    void *cols[] = {d->seq, d->received, d->processed, d->self_ns, d->error_end, d->code,
                    d->error_valid, d->error.p};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        PyMem_RawFree(cols[i]);
    memset(d, 0, sizeof(*d));
}

static void
extras_free(Extras *x)
{
    PyMem_RawFree(x->parent);
    PyMem_RawFree(x->child);
    PyMem_RawFree(x->kind);
    memset(x, 0, sizeof(*x));
}

static void
updates_free(Updates *u)
{
    PyMem_RawFree(u->seq);
    PyMem_RawFree(u->end);
    PyMem_RawFree(u->emitted);
    memset(u, 0, sizeof(*u));
}

/* ------------------------------------------------------------------ seq sets and maps */

/* Open addressing over int64 seqs (0 marks an empty slot: seqs start at 1), capacity a power of
   two, at most half full. The multiply spreads consecutive seqs over the table. */
static inline size_t
slot_of(const int64_t *keys, size_t mask, int64_t seq)
{
    uint64_t h = (uint64_t)seq * 0x9E3779B97F4A7C15ULL;
    size_t i = (size_t)(h ^ (h >> 29)) & mask;
    while (keys[i] != 0 && keys[i] != seq)
        i = (i + 1) & mask;
    return i;
}

#define INLINE_SEQS 32 /* a walk up a few ancestors allocates nothing */

/* A stack of seqs still to visit, and the set of seqs visited, for one ancestor walk. Locals of
   the walk (not fields of the recorder): a walk calls into Python, which may publish and walk. */
typedef struct {
    int64_t *items;
    Py_ssize_t n, cap;
    int64_t inline_items[INLINE_SEQS];
} SeqStack;

typedef struct {
    int64_t *keys;
    Py_ssize_t n, mask;
    int64_t inline_keys[2 * INLINE_SEQS];
} SeqSet;

static void
seq_stack_init(SeqStack *s)
{
    s->items = s->inline_items;
    s->n = 0;
    s->cap = INLINE_SEQS;
}

static int
seq_stack_push(SeqStack *s, int64_t seq)
{
    if (s->n == s->cap) {
        int64_t *items = PyMem_Malloc(sizeof(int64_t) * (size_t)s->cap * 2);
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(items, s->items, sizeof(int64_t) * (size_t)s->n);
        if (s->items != s->inline_items)
            PyMem_Free(s->items);
        s->items = items;
        s->cap *= 2;
    }
    s->items[s->n++] = seq;
    return 0;
}

static void
seq_stack_free(SeqStack *s)
{
    if (s->items != s->inline_items)
        PyMem_Free(s->items);
}

static void
seq_set_init(SeqSet *s)
{
    s->keys = s->inline_keys;
    s->n = 0;
    s->mask = 2 * INLINE_SEQS - 1;
    memset(s->inline_keys, 0, sizeof(s->inline_keys));
}

/* 1 if `seq` was added, 0 if it was there, -1 on MemoryError. */
static int
seq_set_add(SeqSet *s, int64_t seq)
{
    size_t i = slot_of(s->keys, (size_t)s->mask, seq);
    if (s->keys[i] == seq)
        return 0;
    if (2 * (s->n + 1) > s->mask + 1) {
        Py_ssize_t cap = 2 * (s->mask + 1);
        int64_t *keys = PyMem_Calloc((size_t)cap, sizeof(int64_t));
        if (keys == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t k = 0; k <= s->mask; k++)
            if (s->keys[k] != 0)
                keys[slot_of(keys, (size_t)cap - 1, s->keys[k])] = s->keys[k];
        if (s->keys != s->inline_keys)
            PyMem_Free(s->keys);
        s->keys = keys;
        s->mask = cap - 1;
        i = slot_of(s->keys, (size_t)s->mask, seq);
    }
    s->keys[i] = seq;
    s->n++;
    return 1;
}

static void
seq_set_free(SeqSet *s)
{
    if (s->keys != s->inline_keys)
        PyMem_Free(s->keys);
}

/* seq -> the parents of an event published with named parents (its primary cause first), for
   walking up through it later: lineage.py's `_named`. Parents live in one pool, compacted when
   the map is rebuilt (to grow, or to forget its oldest entries). */
typedef struct {
    int64_t *keys;  /* 0 = empty slot */
    int64_t *start; /* where the entry's parents begin in pool */
    int32_t *count; /* how many */
    Py_ssize_t n, mask; /* mask + 1 = capacity; keys NULL until the first entry */
    int64_t *pool;
    Py_ssize_t pool_len, pool_cap;
} NamedParents;

/* The parents of `seq` if remembered: 1 with *start and *count set, else 0. */
static int
named_get(const NamedParents *m, int64_t seq, int64_t *start, int32_t *count)
{
    if (m->keys == NULL)
        return 0;
    size_t i = slot_of(m->keys, (size_t)m->mask, seq);
    if (m->keys[i] == 0)
        return 0;
    *start = m->start[i];
    *count = m->count[i];
    return 1;
}

/* Rebuild the map with `cap` slots, keeping the entries whose seq is at least `min_seq`. */
static int
named_rebuild(NamedParents *m, Py_ssize_t cap, int64_t min_seq)
{
    NamedParents fresh = {0};
    fresh.mask = cap - 1;
    fresh.keys = PyMem_RawCalloc((size_t)cap, sizeof(int64_t));
    fresh.start = PyMem_RawMalloc(sizeof(int64_t) * (size_t)cap);
    fresh.count = PyMem_RawMalloc(sizeof(int32_t) * (size_t)cap);
    fresh.pool_cap = m->pool_len > 64 ? m->pool_len : 64;
    fresh.pool = PyMem_RawMalloc(sizeof(int64_t) * (size_t)fresh.pool_cap);
    if (fresh.keys == NULL || fresh.start == NULL || fresh.count == NULL || fresh.pool == NULL) {
        PyMem_RawFree(fresh.keys);
        PyMem_RawFree(fresh.start);
        PyMem_RawFree(fresh.count);
        PyMem_RawFree(fresh.pool);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t k = 0; m->keys != NULL && k <= m->mask; k++) {
        int64_t seq = m->keys[k];
        if (seq == 0 || seq < min_seq)
            continue;
        size_t i = slot_of(fresh.keys, (size_t)fresh.mask, seq);
        fresh.keys[i] = seq;
        fresh.start[i] = fresh.pool_len;
        fresh.count[i] = m->count[k];
        memcpy(fresh.pool + fresh.pool_len, m->pool + m->start[k],
               sizeof(int64_t) * (size_t)m->count[k]);
        fresh.pool_len += m->count[k];
        fresh.n++;
    }
    PyMem_RawFree(m->keys);
    PyMem_RawFree(m->start);
    PyMem_RawFree(m->count);
    PyMem_RawFree(m->pool);
    *m = fresh;
    return 0;
}

/* Remember `n` parents of event `seq` (replacing what was remembered for it, if anything). */
static int
named_put(NamedParents *m, int64_t seq, const int64_t *parents, int32_t n)
{
    if (m->keys == NULL || 2 * (m->n + 1) > m->mask + 1) {
        if (named_rebuild(m, m->keys == NULL ? 64 : 2 * (m->mask + 1), 0) < 0)
            return -1;
    }
    if (m->pool_len + n > m->pool_cap) {
        Py_ssize_t cap = m->pool_cap;
        while (cap < m->pool_len + n)
            cap *= 2;
        int64_t *pool = PyMem_RawRealloc(m->pool, sizeof(int64_t) * (size_t)cap);
        if (pool == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        m->pool = pool;
        m->pool_cap = cap;
    }
    size_t i = slot_of(m->keys, (size_t)m->mask, seq);
    if (m->keys[i] == 0) {
        m->keys[i] = seq;
        m->n++;
    }
    m->start[i] = m->pool_len;
    m->count[i] = n;
    memcpy(m->pool + m->pool_len, parents, sizeof(int64_t) * (size_t)n);
    m->pool_len += n;
    return 0;
}

static int
compare_seqs(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Keep the `keep` newest entries (largest seqs); *forgotten becomes at least the largest seq
   dropped. Run when the map holds twice `keep`, so its cost is a sort per `keep` entries. */
static int
named_forget(NamedParents *m, Py_ssize_t keep, int64_t *forgotten)
{
    if (m->n <= keep)
        return 0;
    int64_t *seqs = PyMem_RawMalloc(sizeof(int64_t) * (size_t)m->n);
    if (seqs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t k = 0; k <= m->mask; k++)
        if (m->keys[k] != 0)
            seqs[n++] = m->keys[k];
    qsort(seqs, (size_t)n, sizeof(int64_t), compare_seqs);
    int64_t dropped = seqs[n - keep - 1], kept = seqs[n - keep];
    PyMem_RawFree(seqs);
    if (named_rebuild(m, m->mask + 1, kept) < 0)
        return -1;
    if (*forgotten < dropped)
        *forgotten = dropped;
    return 0;
}

static void
named_free(NamedParents *m)
{
    PyMem_RawFree(m->keys);
    PyMem_RawFree(m->start);
    PyMem_RawFree(m->count);
    PyMem_RawFree(m->pool);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ errors */

/* An exception kept aside while cleanup that may call Python runs; later ones chain onto it
   (the earlier becomes the later one's __context__, as an exception raised in `finally` does). */
typedef struct {
    PyObject *type, *value, *tb;
} Kept;

static void
keep_error(Kept *k)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    if (t == NULL)
        return;
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb != NULL)
        PyException_SetTraceback(v, tb);
    if (k->value != NULL) {
        if (v != k->value) {
            PyException_SetContext(v, k->value); /* steals k->value */
        }
        else {
            Py_DECREF(k->value);
        }
        Py_XDECREF(k->type);
        Py_XDECREF(k->tb);
    }
    k->type = t;
    k->value = v;
    k->tb = tb;
}

/* Raise what was kept, if anything: returns -1 then, else 0. */
static int
restore_error(Kept *k)
{
    if (k->value == NULL)
        return 0;
    PyErr_Restore(k->type, k->value, k->tb);
    k->type = k->value = k->tb = NULL;
    return -1;
}

/* ------------------------------------------------------------------ types */

typedef struct FrameObject FrameObject;

typedef struct {
    PyObject_HEAD
    int64_t origin;    /* clock at construction */
    int64_t last_seq;  /* event_count */
    int64_t base;      /* seq of the first buffered event row */
    Py_ssize_t batch_size;
    int closed;        /* OPEN, CLOSING or CLOSED */
    FrameObject *open; /* frames begun and not ended, newest first (each holds the recorder) */
    PyObject *prefix;  /* str */
    const char *prefix_ascii; /* its bytes when ASCII (the usual case), else NULL */
    Py_ssize_t prefix_len;
    PyObject *var;     /* the ContextVar holding the current frame */
    PyObject *dumps, *encode, *json_default, *json_options, *name_of_source, *on_full,
        *recent, *closed_error, *closed_message;
    PyObject *run_id;  /* str: named in the error for a parent that is not of this run */
    PyObject *codes;   /* exact str -> int code */
    PyObject *names;   /* list: names[code], escaped for UTF-8 */
    PyObject *sources; /* source object -> int code (-1: no name) */
    PyObject *type_keys[TYPE_CACHE];
    int32_t type_codes[TYPE_CACHE];
    int n_types;
    PyObject *source_keys[SOURCE_CACHE];
    int32_t source_codes[SOURCE_CACHE];
    int n_sources;
    PyObject *name_keys[NAME_CACHE];
    int32_t name_codes[NAME_CACHE];
    int n_names;
    int32_t caused_by; /* code of "caused_by", -1 until an event has a cause */
    PyTypeObject *slots_type; /* the event class whose slot offsets are cached */
    unsigned int slots_version;
    int slots_fast;
    Py_ssize_t slot_offset[N_ATTRS];
    Events ev;
    LastDrained last;
    Deliveries dl;
    Extras ex;
    Updates up;
    /* lineage of named parents (lineage.py's Lineage, for this recorder) */
    NamedParents named;
    Py_ssize_t memory;  /* entries `named` keeps (it forgets down to this at twice as many) */
    int64_t forgotten;  /* the largest seq dropped from `named` */
    int lineage_exact;  /* 0 once an ancestor's bounds were unknowable */
} RecorderObject;

/* The causes a publisher named for one event, resolved to seqs. */
typedef struct {
    int64_t cause;   /* the named primary cause; 0: none (the event being handled is the cause) */
    int64_t context; /* the event being handled when it was published; 0: none */
    Py_ssize_t n;    /* extra parents */
    int64_t *parent; /* their seqs and their edge kinds' codes: in the same allocation */
    int32_t *kind;
} Links;

struct FrameObject {
    PyObject_HEAD
    long long seq, root, end; /* exposed read-only */
    int64_t created, emitted, nested;
    FrameObject *parent;     /* the frame current when it began (dynamic parent) */
    PyObject *token;         /* ContextVar token while current */
    Links *links;            /* causes the publisher named (owned), or NULL */
    RecorderObject *recorder;
    FrameObject *open_prev, *open_next; /* the recorder's open frames, while not ended */
    unsigned long thread;               /* threading.get_ident() of the thread that began it */
    int ended;
};

static PyTypeObject RecorderType;
static PyTypeObject FrameType;

/* ------------------------------------------------------------------ names */

/* str as UTF-8 text: `text` with what UTF-8 cannot hold (a lone surrogate) backslash-escaped. */
static PyObject *
utf8_safe(PyObject *text)
{
    if (PyUnicode_AsUTF8AndSize(text, NULL) != NULL) {
        Py_INCREF(text);
        return text;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return NULL;
    PyErr_Clear();
    PyObject *raw = PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace");
    if (raw == NULL)
        return NULL;
    PyObject *safe = PyUnicode_FromEncodedObject(raw, "utf-8", "strict");
    Py_DECREF(raw);
    return safe;
}

/* UTF-8 bytes of a str, escaping what UTF-8 cannot hold. *owner keeps them alive (a new ref). */
static const char *
utf8_of(PyObject *text, Py_ssize_t *len, PyObject **owner)
{
    const char *p = PyUnicode_AsUTF8AndSize(text, len);
    if (p != NULL) {
        Py_INCREF(text);
        *owner = text;
        return p;
    }
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return NULL;
    PyErr_Clear();
    PyObject *raw = PyUnicode_AsEncodedString(text, "utf-8", "backslashreplace");
    if (raw == NULL)
        return NULL;
    *owner = raw;
    *len = PyBytes_GET_SIZE(raw);
    return PyBytes_AS_STRING(raw);
}

/* An exact str for a name given as any str (StrEnum members hash in Python: slow): the text
   the string holds, not its __str__ (a (str, Enum) member's str() is "Class.MEMBER"; same
   rule as events.type_name). Callers pass str instances only. */
static PyObject *
exact_str(PyObject *obj)
{
    if (PyUnicode_CheckExact(obj)) {
        Py_INCREF(obj);
        return obj;
    }
    return PyUnicode_FromObject(obj); /* a copy as a true str */
}

/* The code of a name (an exact str), coding it if new. -1 with an exception on failure. */
static int32_t
code_of(RecorderObject *r, PyObject *name)
{
    PyObject *code = PyDict_GetItemWithError(r->codes, name);
    if (code != NULL)
        return (int32_t)PyLong_AsLong(code);
    if (PyErr_Occurred())
        return -1;
    Py_ssize_t next = PyList_GET_SIZE(r->names);
    if (next >= INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many distinct names in one run");
        return -1;
    }
    PyObject *safe = utf8_safe(name);
    if (safe == NULL)
        return -1;
    code = PyLong_FromSsize_t(next);
    if (code == NULL || PyList_Append(r->names, safe) < 0) {
        Py_DECREF(safe);
        Py_XDECREF(code);
        return -1;
    }
    Py_DECREF(safe);
    if (PyDict_SetItem(r->codes, name, code) < 0) {
        Py_DECREF(code);
        PyList_SetSlice(r->names, next, next + 1, NULL);
        return -1;
    }
    Py_DECREF(code);
    return (int32_t)next;
}

/* The code of a name given as any object (str() of it). */
static int32_t
code_of_any(RecorderObject *r, PyObject *obj)
{
    if (PyUnicode_CheckExact(obj))
        return code_of(r, obj);
    PyObject *name = exact_str(obj);
    if (name == NULL)
        return -1;
    int32_t code = code_of(r, name);
    Py_DECREF(name);
    return code;
}

/* A handler name's code: names come from the bus's (handler, name) tuples, the same objects
   every time, so an identity cache answers without hashing. */
static int32_t
handler_code(RecorderObject *r, PyObject *name)
{
    for (int i = 0; i < r->n_names; i++)
        if (r->name_keys[i] == name)
            return r->name_codes[i];
    /* A new name is checked once, here (same text as pure_frames.check_delivery). */
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "a handler is recorded under its name, a string; got %R",
                     name);
        return -1;
    }
    int32_t code = code_of_any(r, name);
    if (code >= 0 && r->n_names < NAME_CACHE) {
        Py_INCREF(name);
        r->name_keys[r->n_names] = name;
        r->name_codes[r->n_names++] = code;
    }
    return code;
}

static int32_t
type_code(RecorderObject *r, PyObject *key)
{
    /* Event types are usually StrEnum members, whose __hash__ runs Python code: a small
       identity cache (strong refs) avoids hashing them at all. */
    for (int i = 0; i < r->n_types; i++)
        if (r->type_keys[i] == key)
            return r->type_codes[i];
    /* A new type is checked once, here: the store keeps types by name (same text as
       pure_recorder.PureRecorder._name_type). */
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError,
                     "event_type must be a string (an EventType or a name of your own), got %R",
                     key);
        return -1;
    }
    if (PyUnicode_GET_LENGTH(key) == 0) {
        PyErr_SetString(PyExc_ValueError,
                        "event_type must not be empty: name the type of the event");
        return -1;
    }
    int32_t code = code_of_any(r, key);
    if (code >= 0 && r->n_types < TYPE_CACHE) {
        Py_INCREF(key);
        r->type_keys[r->n_types] = key;
        r->type_codes[r->n_types++] = code;
    }
    return code;
}

/* A source's code, -1 for none; -2 with an exception. name_of_source runs once per source. */
static int32_t
source_code(RecorderObject *r, PyObject *source)
{
    if (source == Py_None)
        return -1;
    for (int i = 0; i < r->n_sources; i++)
        if (r->source_keys[i] == source)
            return r->source_codes[i];
    int hashable = 1;
    PyObject *known = PyDict_GetItemWithError(r->sources, source);
    if (known != NULL)
        return (int32_t)PyLong_AsLong(known);
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError))
            return -2;
        PyErr_Clear(); /* unhashable: named every time */
        hashable = 0;
    }
    PyObject *name = PyObject_CallOneArg(r->name_of_source, source);
    if (name == NULL)
        return -2;
    int32_t code = -1;
    if (name != Py_None) {
        if (!PyUnicode_Check(name)) {
            PyErr_Format(PyExc_TypeError, "name_of_source must return str or None, not %.100s",
                         Py_TYPE(name)->tp_name);
            Py_DECREF(name);
            return -2;
        }
        code = code_of_any(r, name);
    }
    Py_DECREF(name);
    if (code == -1 && PyErr_Occurred())
        return -2;
    if (hashable) {
        PyObject *value = PyLong_FromLong(code);
        if (value == NULL || PyDict_SetItem(r->sources, source, value) < 0) {
            Py_XDECREF(value);
            return -2;
        }
        Py_DECREF(value);
        if (r->n_sources < SOURCE_CACHE) {
            Py_INCREF(source);
            r->source_keys[r->n_sources] = source;
            r->source_codes[r->n_sources++] = code;
        }
    }
    return code;
}

/* ------------------------------------------------------------------ sim_time */

static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
    /* Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Microseconds since 1970 (UTC for an aware datetime, midnight for a date), NONE_NS for
   anything else; an exception only for one that is not an Exception (a broken tzinfo stores
   null). */
/* A time that is no datetime or date (a numpy datetime64): converted by the Python function
   set_time_converter registered (batch.event_time_micros, shared with the pure twin), so both
   recorders store the same; None or no converter: null. Never on the path of a datetime. */
static PyObject *time_converter = NULL;

static int
other_time_of(PyObject *ts, int64_t *out)
{
    if (ts == Py_None || time_converter == NULL)
        return 0;
    PyObject *micros = PyObject_CallOneArg(time_converter, ts);
    if (micros == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return -1;
        PyErr_Clear(); /* a time that can't be read is stored null, as the twin does */
        return 0;
    }
    if (PyLong_Check(micros)) {
        long long value = PyLong_AsLongLong(micros);
        if (value == -1 && PyErr_Occurred())
            PyErr_Clear();
        else if (value != NONE_NS)
            *out = value;
    }
    Py_DECREF(micros);
    return 0;
}

static PyObject *
set_time_converter(PyObject *module, PyObject *converter)
{
    if (!PyCallable_Check(converter)) {
        PyErr_SetString(PyExc_TypeError, "the time converter must be callable");
        return NULL;
    }
    Py_XSETREF(time_converter, Py_NewRef(converter));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_time_converter_doc,
             "set_time_converter($module, converter, /)\n--\n\n"
             "Register converter(value) -> int | None: microseconds since 1970 of an event time "
             "that is no datetime or date.");

static PyMethodDef module_methods[] = {
    {"set_time_converter", set_time_converter, METH_O, set_time_converter_doc},
    {NULL},
};

static int
sim_time_of(PyObject *ts, int64_t *out)
{
    *out = NONE_NS;
    if (!PyDate_Check(ts))
        return other_time_of(ts, out);
    int64_t days = days_from_civil(PyDateTime_GET_YEAR(ts), PyDateTime_GET_MONTH(ts),
                                   PyDateTime_GET_DAY(ts));
    if (!PyDateTime_Check(ts)) { /* a date: a daily bar's time */
        *out = days * 86400000000LL;
        return 0;
    }
    int64_t us = ((days * 24 + PyDateTime_DATE_GET_HOUR(ts)) * 60 + PyDateTime_DATE_GET_MINUTE(ts)) *
                     60000000LL +
                 PyDateTime_DATE_GET_SECOND(ts) * 1000000LL + PyDateTime_DATE_GET_MICROSECOND(ts);
    if (PyDateTime_DATE_GET_TZINFO(ts) != Py_None) {
        PyObject *offset = PyObject_CallMethodNoArgs(ts, str_utcoffset);
        if (offset == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_Exception))
                return -1;
            PyErr_Clear();
            return 0;
        }
        if (PyDelta_Check(offset)) {
            us -= ((int64_t)PyDateTime_DELTA_GET_DAYS(offset) * 86400 +
                   PyDateTime_DELTA_GET_SECONDS(offset)) *
                      1000000LL +
                  PyDateTime_DELTA_GET_MICROSECONDS(offset);
        }
        Py_DECREF(offset);
    }
    *out = us;
    return 0;
}

/* ------------------------------------------------------------------ begin */

/* Everything begin() computes before it assigns the seq (the part that may run Python). */
typedef struct {
    int64_t created, sim_time;
    int64_t min_root; /* the smallest root among named parents; 0: none named */
    int32_t type_code, source_code;
    PyObject *payload_owner; /* bytes or str holding payload_p */
    const char *payload_p;
    Py_ssize_t payload_len;
    PyObject *part_owner; /* NULL: no partition key */
    const char *part_p;
    Py_ssize_t part_len;
    PyObject *metadata;
    FrameObject *parent; /* the current frame, or NULL */
    Links *links;        /* causes the publisher named (a frame takes them), or NULL */
} Pending;

static void
pending_clear(Pending *p)
{
    Py_CLEAR(p->payload_owner);
    Py_CLEAR(p->part_owner);
    Py_CLEAR(p->metadata);
    Py_CLEAR(p->parent);
    PyMem_Free(p->links);
    p->links = NULL;
}

static int
raise_closed(RecorderObject *r)
{
    PyObject *exc = PyObject_CallOneArg(r->closed_error, r->closed_message);
    if (exc == NULL)
        return -1;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return -1;
}

static int
encode_payload(RecorderObject *r, PyObject *payload, Pending *p)
{
    PyObject *args[3] = {payload, r->json_default, r->json_options};
    PyObject *out = PyObject_Vectorcall(r->dumps, args, 3, NULL);
    if (out == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            return -1;
        PyErr_Clear();
        out = PyObject_CallOneArg(r->encode, payload);
        if (out == NULL)
            return -1;
    }
    if (PyBytes_Check(out)) {
        p->payload_owner = out;
        p->payload_p = PyBytes_AS_STRING(out);
        p->payload_len = PyBytes_GET_SIZE(out);
        return 0;
    }
    if (!PyUnicode_Check(out)) {
        PyErr_Format(PyExc_TypeError, "the payload encoder returned %.100s, not str",
                     Py_TYPE(out)->tp_name);
        Py_DECREF(out);
        return -1;
    }
    p->payload_p = utf8_of(out, &p->payload_len, &p->payload_owner);
    Py_DECREF(out);
    return p->payload_p == NULL ? -1 : 0;
}

static int
as_seq(PyObject *obj, const char *what, int64_t *out)
{
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int seq, not %.100s", what,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    long long v = PyLong_AsLongLong(obj);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < 1) {
        PyErr_Format(PyExc_ValueError, "%s must be a seq (1 or more), got %lld", what, v);
        return -1;
    }
    *out = v;
    return 0;
}

static PyObject **const attr_names[N_ATTRS] = {&str_event_type, &str_timestamp, &str_payload,
                                               &str_metadata};

/* Cache where the event class keeps its attributes. Event is a slots dataclass: each attribute
   is a member descriptor at a fixed offset in the instance, so reading it directly skips four
   attribute lookups per event. Trusted while the class's version tag (which CPython changes
   whenever the class or a base is modified) is unchanged; any other class uses getattr. */
static void
cache_slots(RecorderObject *r, PyTypeObject *tp)
{
    Py_INCREF(tp);
    Py_XSETREF(r->slots_type, tp);
    r->slots_fast = 0;
    for (int i = 0; i < N_ATTRS; i++) {
        r->slot_offset[i] = 0;
        PyObject *descr = PyObject_GetAttr((PyObject *)tp, *attr_names[i]);
        if (descr == NULL) {
            PyErr_Clear();
            continue;
        }
        if (Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
            if (member->type == T_OBJECT_EX && member->offset > 0)
                r->slot_offset[i] = member->offset;
        }
        Py_DECREF(descr);
    }
    if (PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG)) {
        r->slots_version = tp->tp_version_tag;
        r->slots_fast = 1;
    }
}

/* event.<attribute> (a new reference). */
static inline PyObject *
event_attr(RecorderObject *r, PyObject *event, int which)
{
    if (r->slots_fast && r->slot_offset[which]) {
        PyObject *value = *(PyObject **)((char *)event + r->slot_offset[which]);
        if (value != NULL) {
            Py_INCREF(value);
            return value;
        }
    }
    return PyObject_GetAttr(event, *attr_names[which]);
}

/* An object without one of the event attributes was published: its AttributeError becomes
   the TypeError events.not_an_event makes (same text). -1. Called on error paths only. */
static int
not_an_event(PyObject *event)
{
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "publish takes an Event (or an object with event_type, timestamp, payload "
                     "and metadata), got %.100s",
                     Py_TYPE(event)->tp_name);
    }
    return -1;
}

/* An event whose metadata can't take the event_id the recorder writes there: the TypeError
   events.metadata_not_writable makes (same text), raised before the seq is taken. -1. */
static int
metadata_not_writable(PyObject *metadata)
{
    PyErr_Format(PyExc_TypeError,
                 "event.metadata must be a dict (the tracer writes the event's id there), got "
                 "%.100s: leave it out (Event makes one) or pass {}",
                 Py_TYPE(metadata)->tp_name);
    return -1;
}

/* Make sure the cached slot offsets are those of `tp` as it is now. */
static inline void
check_slots(RecorderObject *r, PyTypeObject *tp)
{
    if (tp != r->slots_type)
        cache_slots(r, tp);
    else if (r->slots_fast && (!PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG) ||
                               tp->tp_version_tag != r->slots_version))
        cache_slots(r, tp); /* the class changed */
}

/* ------------------------------------------------------------------ named causes */

/* (causation seq, root seq) of event `seq` if the recorder holds it: buffered, or in the batch
   drained last. 1 found, 0 not held. */
static int
lookup_held(const RecorderObject *r, int64_t seq, int64_t *cause, int64_t *root)
{
    const Events *e = &r->ev;
    if (seq >= r->base && seq < r->base + e->n) {
        Py_ssize_t i = (Py_ssize_t)(seq - r->base);
        *cause = e->cause[i];
        *root = e->root[i];
        return 1;
    }
    const LastDrained *l = &r->last;
    if (seq >= l->base && seq < l->base + l->n) {
        Py_ssize_t i = (Py_ssize_t)(seq - l->base);
        *cause = l->cause[i];
        *root = l->root[i];
        return 1;
    }
    return 0;
}

/* (causation seq, root seq) of event `seq`: held by the recorder, else from the tracer's ring
   of drained batches (the `recent` hook: Python, but rare, as named parents are mostly
   recent). 1 found, 0 unknown, -1 error; *cause 0 = no cause. */
static int
lookup_any(RecorderObject *r, int64_t seq, int64_t *cause, int64_t *root)
{
    if (lookup_held(r, seq, cause, root))
        return 1;
    PyObject *arg = PyLong_FromLongLong(seq);
    if (arg == NULL)
        return -1;
    PyObject *found = PyObject_CallOneArg(r->recent, arg);
    Py_DECREF(arg);
    if (found == NULL)
        return -1;
    int rc = 0;
    if (found != Py_None) {
        PyObject *c;
        if (!PyTuple_Check(found) || PyTuple_GET_SIZE(found) != 2) {
            PyErr_Format(PyExc_TypeError,
                         "recent must return (causation seq or None, root seq) or None, not %R",
                         found);
            rc = -1;
        }
        else if ((c = PyTuple_GET_ITEM(found, 0)) != Py_None && as_seq(c, "a cause", cause) < 0) {
            rc = -1;
        }
        else if (as_seq(PyTuple_GET_ITEM(found, 1), "a root", root) < 0) {
            rc = -1;
        }
        else {
            if (c == Py_None)
                *cause = 0;
            rc = 1;
        }
    }
    Py_DECREF(found);
    return rc;
}

/* The seq in an event id of this run (the recorder's prefix, then ASCII digits), else 0. */
static int64_t
seq_in_id(RecorderObject *r, PyObject *id)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(id), plen = PyUnicode_GET_LENGTH(r->prefix);
    if (len <= plen || PyUnicode_Tailmatch(id, r->prefix, 0, plen, -1) != 1)
        return 0;
    int kind = PyUnicode_KIND(id);
    const void *data = PyUnicode_DATA(id);
    int64_t seq = 0;
    for (Py_ssize_t i = plen; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < '0' || c > '9' || seq > r->last_seq)
            return 0; /* not digits, or already past the last seq (no overflow either) */
        seq = seq * 10 + (c - '0');
    }
    return seq;
}

/* Same texts as lineage.EDGE_SHAPE and lineage.PARENT_SHAPE. */
#define EDGE_SHAPE "parents takes (kind, parent) pairs, e.g. parents=[('priced_by', bar)], got %R"
#define PARENT_SHAPE "a parent is an Event published on this tracer's bus or its event_id, got %s %R"

/* The seq of a parent the publisher named: an Event published on this tracer (its
   metadata["event_id"]) or an event id. Anything else is a ValueError naming the run. */
static int
resolve_parent(RecorderObject *r, PyObject *parent, int64_t *out)
{
    PyObject *id;
    if (PyUnicode_Check(parent)) {
        id = Py_NewRef(parent);
    }
    else {
        PyObject *metadata;
        if (Py_TYPE(parent) == r->slots_type) { /* an Event, as the one being published */
            check_slots(r, Py_TYPE(parent));
            metadata = event_attr(r, parent, A_METADATA);
        }
        else {
            metadata = PyObject_GetAttr(parent, str_metadata);
            if (metadata == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, PARENT_SHAPE, Py_TYPE(parent)->tp_name, parent);
            }
        }
        if (metadata == NULL)
            return -1;
        if (PyDict_CheckExact(metadata)) {
            id = PyDict_GetItemWithError(metadata, str_event_id);
            id = id != NULL ? Py_NewRef(id) : PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
        }
        else {
            id = PyObject_CallMethodOneArg(metadata, str_get, str_event_id);
        }
        Py_DECREF(metadata);
        if (id == NULL)
            return -1;
    }
    if (id == Py_None) { /* same text as lineage.NEVER_PUBLISHED */
        PyErr_Format(PyExc_ValueError,
                     "the %.100s named as a parent was never published, so it has no event_id: "
                     "publish it on this tracer's bus before naming it as a parent",
                     Py_TYPE(parent)->tp_name);
        Py_DECREF(id);
        return -1;
    }
    int64_t seq = PyUnicode_Check(id) ? seq_in_id(r, id) : 0;
    if (seq < 1 || seq > r->last_seq) {
        PyErr_Format(PyExc_ValueError,
                     "parent %R is not an event of run %U: name a parent by an Event published "
                     "on this tracer's bus or by its event_id",
                     id, r->run_id);
        Py_DECREF(id);
        return -1;
    }
    Py_DECREF(id);
    *out = seq;
    return 0;
}

/* The kind and parent of one edge of `parents`, a tuple or list of two; new references. */
static int
unpack_edge(PyObject *edge, PyObject **kind, PyObject **parent)
{
    if ((PyTuple_Check(edge) || PyList_Check(edge)) && PySequence_Fast_GET_SIZE(edge) == 2) {
        *kind = Py_NewRef(PySequence_Fast_GET_ITEM(edge, 0));
        *parent = Py_NewRef(PySequence_Fast_GET_ITEM(edge, 1));
        return 0;
    }
    PyErr_Format(PyExc_TypeError, EDGE_SHAPE, edge);
    return -1;
}

/* The causes a publisher named, resolved before anything is recorded (as Lineage.links does
   for the pure twin): the named cause, each (kind, parent) of `parents`, and the smallest root
   among them, the new event's root_seq bound. A named parent that left both the buffer and the
   ring makes the run's bounds unknowable; its root counts as 1, still a true lower bound. */
static int
resolve_links(RecorderObject *r, PyObject *caused_by, PyObject *parents, Pending *p)
{
    int64_t cause = 0;
    if (caused_by != NULL && caused_by != Py_None && resolve_parent(r, caused_by, &cause) < 0)
        return -1;
    PyObject *edges = NULL;
    Py_ssize_t n = 0;
    if (parents != NULL) {
        /* a tuple: a list could change while Python code runs below (a parent's `metadata`) */
        edges = PySequence_Tuple(parents);
        if (edges == NULL) {
            if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_TypeError, EDGE_SHAPE, parents);
            }
            return -1;
        }
        n = PyTuple_GET_SIZE(edges);
    }
    /* one allocation: the Links, then n parent seqs, then n kind codes */
    Links *links = PyMem_Malloc(sizeof(Links) + (size_t)n * (sizeof(int64_t) + sizeof(int32_t)));
    if (links == NULL) {
        Py_XDECREF(edges);
        PyErr_NoMemory();
        return -1;
    }
    links->cause = cause;
    links->context = 0;
    links->n = n;
    links->parent = (int64_t *)(links + 1);
    links->kind = (int32_t *)(links->parent + n);
    p->links = links; /* freed by pending_clear from here on */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *kind, *parent;
        if (unpack_edge(PyTuple_GET_ITEM(edges, i), &kind, &parent) < 0) {
            Py_DECREF(edges);
            return -1;
        }
        int failed = 0;
        if (!PyUnicode_Check(kind) || PyUnicode_GET_LENGTH(kind) == 0) {
            PyErr_Format(PyExc_ValueError, "a lineage edge kind must be a non-empty string, got %R",
                         kind);
            failed = 1;
        }
        else if (resolve_parent(r, parent, &links->parent[i]) < 0 ||
                 (links->kind[i] = code_of_any(r, kind)) < 0) {
            failed = 1;
        }
        Py_DECREF(kind);
        Py_DECREF(parent);
        if (failed) {
            Py_XDECREF(edges);
            return -1;
        }
    }
    Py_XDECREF(edges);
    /* the smallest root among the named parents, cause first (the order Lineage.links asks) */
    for (Py_ssize_t i = cause ? -1 : 0; i < n; i++) {
        int64_t seq = i < 0 ? cause : links->parent[i], parent_cause, root;
        int found = lookup_any(r, seq, &parent_cause, &root);
        if (found < 0)
            return -1;
        if (!found) {
            r->lineage_exact = 0;
            root = 1; /* the smallest seq: still a true lower bound of its ancestors */
        }
        if (p->min_root == 0 || root < p->min_root)
            p->min_root = root;
    }
    return 0;
}

/* Whether a publish names causes: `caused_by is not None or parents` (truthy), as the bus's
   Python publish tests it. 1, 0, or -1 with an exception. */
static inline int
names_causes(PyObject *caused_by, PyObject *parents)
{
    if (caused_by != NULL && caused_by != Py_None)
        return 1;
    if (parents == NULL || parents == Py_None ||
        (PyTuple_CheckExact(parents) && PyTuple_GET_SIZE(parents) == 0))
        return 0;
    return PyObject_IsTrue(parents);
}

/* The event being handled here has ended its dispatch: an asyncio task or a thread its handler
   started publishes after the handler returned. That event becomes the named cause, as
   caused_by= would name it, so its end_seq and its ancestors' reach the new event and effects
   still finds it (pure_frames._name_ended_cause for the twin). */
static int
name_ended_cause(Pending *p)
{
    if (p->links == NULL) {
        Links *links = PyMem_Malloc(sizeof(Links));
        if (links == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        links->n = 0;
        links->parent = NULL;
        links->kind = NULL;
        p->links = links; /* freed by pending_clear from here on */
    }
    p->links->cause = p->parent->seq;
    if (p->min_root == 0 || p->parent->root < p->min_root)
        p->min_root = p->parent->root;
    return 0;
}

/* Whether a recorder that is not open refuses an event published here: a closed one refuses
   all; a closing one only root events (no dispatch of this context is still open). 1, 0, or -1
   with an exception. */
static int
refused(RecorderObject *r)
{
    if (r->closed == CLOSED)
        return 1;
    PyObject *current;
    if (PyContextVar_Get(r->var, NULL, &current) < 0)
        return -1;
    int dispatching =
        current != NULL && Py_IS_TYPE(current, &FrameType) && !((FrameObject *)current)->ended;
    Py_XDECREF(current);
    return !dispatching;
}

/* Phase 1 of begin: everything that may run Python code. caused_by/parents NULL when absent. */
static int
prepare(RecorderObject *r, PyObject *event, PyObject *source, PyObject *caused_by,
        PyObject *parents, Pending *p)
{
    memset(p, 0, sizeof(*p));
    int named = names_causes(caused_by, parents);
    /* named causes first: a bad parent is reported as such, even by a closed recorder */
    if (named < 0 || (named && resolve_links(r, caused_by, parents, p) < 0))
        return -1;
    if (r->closed) {
        int refuse = refused(r);
        if (refuse)
            return refuse < 0 ? -1 : raise_closed(r);
    }
    p->created = clock_ns();
    check_slots(r, Py_TYPE(event));
    PyObject *value = event_attr(r, event, A_EVENT_TYPE);
    if (value == NULL)
        return not_an_event(event);
    p->type_code = type_code(r, value);
    Py_DECREF(value);
    if (p->type_code < 0)
        return -1;
    value = event_attr(r, event, A_TIMESTAMP);
    if (value == NULL)
        return not_an_event(event);
    int failed = sim_time_of(value, &p->sim_time);
    Py_DECREF(value);
    if (failed)
        return -1;
    value = event_attr(r, event, A_PAYLOAD);
    if (value == NULL)
        return not_an_event(event);
    failed = encode_payload(r, value, p);
    Py_DECREF(value);
    if (failed)
        return -1;
    p->metadata = event_attr(r, event, A_METADATA);
    if (p->metadata == NULL)
        return not_an_event(event);
    PyMappingMethods *writes = Py_TYPE(p->metadata)->tp_as_mapping;
    if (!PyDict_CheckExact(p->metadata) && (writes == NULL || writes->mp_ass_subscript == NULL))
        return metadata_not_writable(p->metadata);
    if (PyDict_CheckExact(p->metadata) && PyDict_GET_SIZE(p->metadata) == 0) {
        value = NULL;
    }
    else if (PyDict_CheckExact(p->metadata)) {
        value = PyDict_GetItemWithError(p->metadata, str_partition_key);
        Py_XINCREF(value);
    }
    else {
        value = PyObject_GetItem(p->metadata, str_partition_key);
        if (value == NULL && PyErr_ExceptionMatches(PyExc_KeyError))
            PyErr_Clear();
    }
    if (value == NULL && PyErr_Occurred())
        return -1;
    if (value != NULL && value != Py_None) {
        PyObject *key = PyObject_Str(value);
        Py_DECREF(value);
        if (key == NULL)
            return -1;
        p->part_p = utf8_of(key, &p->part_len, &p->part_owner);
        Py_DECREF(key);
        if (p->part_p == NULL)
            return -1;
    }
    else {
        Py_XDECREF(value);
    }
    p->source_code = source_code(r, source);
    if (p->source_code == -2)
        return -1;
    PyObject *current;
    if (PyContextVar_Get(r->var, NULL, &current) < 0)
        return -1;
    if (current != NULL && Py_IS_TYPE(current, &FrameType))
        p->parent = (FrameObject *)current;
    else
        Py_XDECREF(current);
    if (p->parent != NULL && p->parent->ended && (p->links == NULL || !p->links->cause) &&
        name_ended_cause(p) < 0)
        return -1;
    if (p->links != NULL && p->parent != NULL)
        p->links->context = p->parent->seq;
    if ((p->parent != NULL || (p->links != NULL && p->links->cause)) && r->caused_by < 0) {
        r->caused_by = code_of(r, str_caused_by);
        if (r->caused_by < 0)
            return -1;
    }
    return 0;
}

/* Phase 2 of begin: the seq and the row, with no Python code in between (see the top). */
static int64_t
commit(RecorderObject *r, Pending *p, int64_t *root_out, int finished)
{
    Events *e = &r->ev;
    Links *links = p->links;
    Py_ssize_t n_extra = links == NULL ? 0 : links->n;
    if (events_reserve(e, (size_t)p->payload_len, (size_t)p->part_len) < 0 ||
        extras_reserve(&r->ex, n_extra) < 0)
        return -1;
    int64_t seq = ++r->last_seq;
    int64_t cause = 0, root;
    if (links != NULL && links->cause) {
        cause = links->cause;
        root = seq;
    }
    else if (p->parent != NULL) {
        cause = p->parent->seq;
        root = p->parent->root;
    }
    else {
        root = seq;
    }
    if (p->min_root && p->min_root < root)
        root = p->min_root; /* a named parent's root is older than any new seq */
    Py_ssize_t i = e->n;
    e->type[i] = p->type_code;
    e->source[i] = p->source_code;
    e->time[i] = p->sim_time;
    e->cause[i] = cause;
    e->root[i] = root;
    e->created[i] = p->created;
    /* an event without handlers ends at once: it can have no descendants yet */
    e->end[i] = finished ? seq : 0;
    e->emitted[i] = finished ? p->created : NONE_NS;
    memcpy(e->payload.p + e->payload.len, p->payload_p, (size_t)p->payload_len);
    e->payload.len += (size_t)p->payload_len;
    e->payload_end[i] = (int64_t)e->payload.len;
    if (p->part_owner != NULL) {
        memcpy(e->part.p + e->part.len, p->part_p, (size_t)p->part_len);
        e->part.len += (size_t)p->part_len;
        e->part_valid[i] = 1;
    }
    else {
        e->part_valid[i] = 0;
    }
    e->part_end[i] = (int64_t)e->part.len;
    e->n = i + 1;
    Extras *x = &r->ex;
    for (Py_ssize_t k = 0; k < n_extra; k++) {
        x->parent[x->n] = links->parent[k];
        x->child[x->n] = seq;
        x->kind[x->n++] = links->kind[k];
    }
    if (p->parent != NULL && p->parent->end < seq)
        p->parent->end = seq; /* published while the parent's event was dispatching */
    *root_out = root;
    return seq;
}

static PyObject *
event_id_of(RecorderObject *r, int64_t seq)
{
    if (r->prefix_ascii == NULL)
        return PyUnicode_FromFormat("%U%lld", r->prefix, (long long)seq);
    char digits[24];
    int nd = 0;
    for (uint64_t v = (uint64_t)seq; v; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    PyObject *id = PyUnicode_New(r->prefix_len + nd, 127);
    if (id == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(id);
    memcpy(out, r->prefix_ascii, (size_t)r->prefix_len);
    for (int k = 0; k < nd; k++)
        out[r->prefix_len + k] = (Py_UCS1)digits[nd - 1 - k];
    return id;
}

static int
set_event_id(RecorderObject *r, PyObject *metadata, int64_t seq)
{
    PyObject *id = event_id_of(r, seq);
    if (id == NULL)
        return -1;
    int rc = PyDict_CheckExact(metadata) ? PyDict_SetItem(metadata, str_event_id, id)
                                         : PyObject_SetItem(metadata, str_event_id, id);
    Py_DECREF(id);
    return rc;
}

/* end_seq (at least `end`) and emitted_ns (unless NONE_NS) of event `seq`: in its row while it
   is buffered, else as an end update row for the writer. */
static int
record_end(RecorderObject *r, int64_t seq, int64_t end, int64_t emitted)
{
    Events *e = &r->ev;
    if (seq >= r->base && seq < r->base + e->n) {
        Py_ssize_t i = (Py_ssize_t)(seq - r->base);
        if (e->end[i] < end)
            e->end[i] = end;
        if (emitted != NONE_NS)
            e->emitted[i] = emitted;
        return 0;
    }
    Updates *u = &r->up;
    if (updates_reserve(u) < 0)
        return -1;
    u->seq[u->n] = seq;
    u->end[u->n] = end;
    u->emitted[u->n++] = emitted;
    return 0;
}

static int
call_on_full(RecorderObject *r)
{
    PyObject *res = PyObject_CallNoArgs(r->on_full);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* Make the end_seq of the named parents of an event that ended at `end`, and of all their
   ancestors, reach `end` (Lineage.raise_ends for the pure twin). Ancestors are found through
   the named parents remembered for an event, else through its row (buffered or in the ring);
   one found in neither, or whose named parents may have been forgotten, makes the run's bounds
   unknowable. */
static int
raise_ancestors(RecorderObject *r, const Links *links, int64_t end)
{
    SeqStack pending;
    SeqSet seen;
    seq_stack_init(&pending);
    seq_set_init(&seen);
    int rc = -1;
    if (links->cause && seq_stack_push(&pending, links->cause) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < links->n; i++)
        if (seq_stack_push(&pending, links->parent[i]) < 0)
            goto done;
    while (pending.n > 0) {
        int64_t seq = pending.items[--pending.n];
        int added = seq_set_add(&seen, seq);
        if (added < 0)
            goto done;
        if (!added)
            continue;
        if (record_end(r, seq, end, NONE_NS) < 0)
            goto done;
        int64_t start, cause, root;
        int32_t count;
        if (named_get(&r->named, seq, &start, &count)) {
            /* copied onto the stack now: the pool may move once Python code runs */
            for (int32_t k = 0; k < count; k++)
                if (seq_stack_push(&pending, r->named.pool[start + k]) < 0)
                    goto done;
            continue;
        }
        int found = lookup_any(r, seq, &cause, &root);
        if (found < 0)
            goto done;
        if (!found || seq <= r->forgotten)
            r->lineage_exact = 0; /* its named parents, if it had any, are forgotten */
        if (found && cause && seq_stack_push(&pending, cause) < 0)
            goto done;
    }
    rc = 0;
done:
    seq_stack_free(&pending);
    seq_set_free(&seen);
    return rc;
}

/* Remember the parents of event `seq` (its primary cause first: the named one, else the event
   being handled) for later walks; forget the oldest at twice `memory` (Lineage.remember). */
static int
remember_links(RecorderObject *r, int64_t seq, const Links *links)
{
    int64_t inline_parents[8], *parents = inline_parents;
    Py_ssize_t n = 0, size = links->n + 1;
    if (size > 8 && (parents = PyMem_Malloc(sizeof(int64_t) * (size_t)size)) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int64_t primary = links->cause ? links->cause : links->context;
    if (primary)
        parents[n++] = primary;
    memcpy(parents + n, links->parent, sizeof(int64_t) * (size_t)links->n);
    n += links->n;
    int rc = named_put(&r->named, seq, parents, (int32_t)n);
    if (parents != inline_parents)
        PyMem_Free(parents);
    if (rc == 0 && r->named.n > 2 * r->memory)
        rc = named_forget(&r->named, r->memory, &r->forgotten);
    return rc;
}

/* An event published with named causes ended at `end`: keep the pruning promise for its
   ancestors, then remember its parents (both run: errors are kept). */
static void
end_links(RecorderObject *r, int64_t seq, const Links *links, int64_t end, Kept *kept)
{
    if (raise_ancestors(r, links, end) < 0)
        keep_error(kept);
    if (remember_links(r, seq, links) < 0)
        keep_error(kept);
}

/* Frames live for one dispatch: freed ones are kept for reuse (protected by the GIL). */
static FrameObject *frame_freelist[FRAME_FREELIST];
static int frame_free_count;

static FrameObject *
new_frame(RecorderObject *r, Pending *p, int64_t seq, int64_t root)
{
    FrameObject *f;
    if (frame_free_count > 0) {
        f = frame_freelist[--frame_free_count];
        PyObject_Init((PyObject *)f, &FrameType);
    }
    else {
        f = PyObject_GC_New(FrameObject, &FrameType);
        if (f == NULL)
            return NULL;
    }
    f->seq = seq;
    f->root = root;
    f->end = seq;
    f->created = p->created;
    f->emitted = NONE_NS;
    f->nested = 0;
    f->parent = p->parent; /* references move from the pending begin */
    p->parent = NULL;
    f->links = p->links;
    p->links = NULL;
    f->token = NULL;
    Py_INCREF(r);
    f->recorder = r;
    f->ended = 0;
    f->thread = PyThread_get_thread_ident();
    f->open_prev = NULL;
    f->open_next = r->open;
    if (r->open != NULL)
        r->open->open_prev = f;
    r->open = f;
    PyObject_GC_Track(f);
    return f;
}

/* The frame has ended (or is freed unended): off the recorder's list of open frames. */
static inline void
unlink_open(RecorderObject *r, FrameObject *f)
{
    if (f->open_prev != NULL)
        f->open_prev->open_next = f->open_next;
    else
        r->open = f->open_next;
    if (f->open_next != NULL)
        f->open_next->open_prev = f->open_prev;
    f->open_prev = f->open_next = NULL;
}

/* Same text as pure_frames.OTHER_CONTEXT. */
#define OTHER_CONTEXT                                                                          \
    "end() of event %lld was called in another thread or asyncio task than its begin(): the "  \
    "event is ended, but call end() where begin() was called, or its begin()'s context keeps " \
    "it as the cause of what it publishes next"

/* The frame's dispatch is over: stop it being current, record its end, raise its dynamic
   parent's end and its named parents' and their ancestors' (end_links), hand off if it was a
   root and the buffer is full. Errors are kept in `kept` (every step runs even if one fails). */
static void
finish_frame(RecorderObject *r, FrameObject *f, Kept *kept)
{
    if (!f->ended) /* ended twice when end() was called on a publish's frame */
        unlink_open(r, f);
    f->ended = 1;
    if (f->token != NULL) {
        if (PyContextVar_Reset(r->var, f->token) < 0) {
            if (PyErr_ExceptionMatches(PyExc_ValueError)) /* the token's context is not this */
                PyErr_Format(PyExc_ValueError, OTHER_CONTEXT, f->seq);
            keep_error(kept);
        }
        Py_CLEAR(f->token);
    }
    int64_t end = f->end;
    if (record_end(r, f->seq, end, f->emitted != NONE_NS ? f->emitted : f->created) < 0)
        keep_error(kept);
    if (f->parent != NULL && f->parent->end < end)
        f->parent->end = end;
    if (f->links != NULL) {
        end_links(r, f->seq, f->links, end, kept);
        PyMem_Free(f->links);
        f->links = NULL;
    }
    if (f->parent == NULL && r->ev.n >= r->batch_size && call_on_full(r) < 0)
        keep_error(kept);
}

/* One delivery row; `error` is the UTF-8 text or NULL. */
static int
add_delivery(RecorderObject *r, FrameObject *f, PyObject *name, int64_t received, int64_t processed,
             const char *error, Py_ssize_t error_len)
{
    int32_t code = handler_code(r, name);
    if (code < 0)
        return -1;
    Deliveries *d = &r->dl;
    if (deliveries_reserve(d, error ? (size_t)error_len : 0) < 0)
        return -1;
    int64_t inclusive = processed - received;
    Py_ssize_t i = d->n;
    d->seq[i] = f->seq;
    d->code[i] = code;
    d->received[i] = received;
    d->processed[i] = processed;
    /* Deliveries of events published concurrently in its context (by a task or a thread it
       started) count as nested too, and may outlast it: its self time is never below 0. */
    d->self_ns[i] = inclusive > f->nested ? inclusive - f->nested : 0;
    if (error != NULL) {
        memcpy(d->error.p + d->error.len, error, (size_t)error_len);
        d->error.len += (size_t)error_len;
        d->error_valid[i] = 1;
    }
    else {
        d->error_valid[i] = 0;
    }
    d->error_end[i] = (int64_t)d->error.len;
    d->n = i + 1;
    f->nested = 0;
    if (f->emitted == NONE_NS)
        f->emitted = received;
    if (f->parent != NULL)
        f->parent->nested += inclusive;
    return 0;
}

/* f"{type(exc).__name__}: {exc}" (the name alone for an empty message) as UTF-8 (escaped), in
   *owner; NULL only on MemoryError. */
static const char *
describe_error(PyObject *exc, Py_ssize_t *len, PyObject **owner)
{
    PyObject *name = PyType_GetName(Py_TYPE(exc));
    if (name == NULL)
        return NULL;
    PyObject *text = PyObject_Str(exc);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            Py_DECREF(name);
            return NULL;
        }
        PyErr_Clear();
        text = PyUnicode_FromString("<exception str() failed>");
        if (text == NULL) {
            Py_DECREF(name);
            return NULL;
        }
    }
    PyObject *desc = PyUnicode_GET_LENGTH(text) == 0 ? Py_NewRef(name)
                                                     : PyUnicode_FromFormat("%U: %U", name, text);
    Py_DECREF(name);
    Py_DECREF(text);
    if (desc == NULL)
        return NULL;
    const char *p = utf8_of(desc, len, owner);
    Py_DECREF(desc);
    return p;
}

/* ------------------------------------------------------------------ Recorder methods */

static PyObject *
Recorder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"id_prefix", "batch_size", "hooks", NULL};
    PyObject *prefix, *hooks;
    Py_ssize_t batch_size;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UnO:Recorder", kwlist, &prefix, &batch_size,
                                     &hooks))
        return NULL;
    if (batch_size < 1) {
        PyErr_Format(PyExc_ValueError, "batch_size must be at least 1, got %zd", batch_size);
        return NULL;
    }
    RecorderObject *r = (RecorderObject *)type->tp_alloc(type, 0);
    if (r == NULL)
        return NULL;
    r->origin = clock_ns();
    r->base = 1;
    r->batch_size = batch_size;
    r->caused_by = -1;
    Py_INCREF(prefix);
    r->prefix = prefix;
    if (PyUnicode_IS_ASCII(prefix)) {
        r->prefix_ascii = (const char *)PyUnicode_1BYTE_DATA(prefix);
        r->prefix_len = PyUnicode_GET_LENGTH(prefix);
    }
    r->lineage_exact = 1;
    static const char *hook_names[] = {"encode",       "json_default",   "json_options",
                                       "name_of_source", "on_full",      "recent",
                                       "closed_error", "closed_message", "run_id"};
    PyObject **slots[] = {&r->encode,       &r->json_default, &r->json_options,
                          &r->name_of_source, &r->on_full,    &r->recent,
                          &r->closed_error, &r->closed_message, &r->run_id};
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        *slots[i] = PyObject_GetAttrString(hooks, hook_names[i]);
        if (*slots[i] == NULL)
            goto fail;
    }
    if (!PyUnicode_Check(r->run_id)) {
        PyErr_Format(PyExc_TypeError, "hooks.run_id must be a str, not %.100s",
                     Py_TYPE(r->run_id)->tp_name);
        goto fail;
    }
    PyObject *memory = PyObject_GetAttrString(hooks, "lineage_memory");
    if (memory == NULL)
        goto fail;
    r->memory = PyLong_AsSsize_t(memory);
    Py_DECREF(memory);
    if (r->memory == -1 && PyErr_Occurred())
        goto fail;
    if (r->memory < 1)
        r->memory = 1;
    PyObject *orjson = PyImport_ImportModule("orjson");
    if (orjson == NULL)
        goto fail;
    r->dumps = PyObject_GetAttrString(orjson, "dumps");
    Py_DECREF(orjson);
    if (r->dumps == NULL)
        goto fail;
    PyObject *var_name = PyUnicode_FromFormat("eventstore_cause_%U", prefix);
    if (var_name == NULL)
        goto fail;
    r->var = PyContextVar_New(PyUnicode_AsUTF8(var_name), NULL);
    Py_DECREF(var_name);
    if (r->var == NULL || (r->codes = PyDict_New()) == NULL || (r->names = PyList_New(0)) == NULL ||
        (r->sources = PyDict_New()) == NULL)
        goto fail;
    return (PyObject *)r;
fail:
    Py_DECREF(r);
    return NULL;
}

static int
Recorder_traverse(RecorderObject *r, visitproc visit, void *arg)
{
    Py_VISIT(r->prefix);
    Py_VISIT(r->var);
    Py_VISIT(r->dumps);
    Py_VISIT(r->encode);
    Py_VISIT(r->json_default);
    Py_VISIT(r->json_options);
    Py_VISIT(r->name_of_source);
    Py_VISIT(r->on_full);
    Py_VISIT(r->recent);
    Py_VISIT(r->run_id);
    Py_VISIT(r->closed_error);
    Py_VISIT(r->closed_message);
    Py_VISIT(r->codes);
    Py_VISIT(r->names);
    Py_VISIT(r->sources);
    for (int i = 0; i < r->n_types; i++)
        Py_VISIT(r->type_keys[i]);
    for (int i = 0; i < r->n_sources; i++)
        Py_VISIT(r->source_keys[i]);
    for (int i = 0; i < r->n_names; i++)
        Py_VISIT(r->name_keys[i]);
    Py_VISIT(r->slots_type);
    return 0;
}

static int
Recorder_clear(RecorderObject *r)
{
    /* prefix stays until dealloc: prefix_ascii points into it */
    Py_CLEAR(r->var);
    Py_CLEAR(r->dumps);
    Py_CLEAR(r->encode);
    Py_CLEAR(r->json_default);
    Py_CLEAR(r->json_options);
    Py_CLEAR(r->name_of_source);
    Py_CLEAR(r->on_full);
    Py_CLEAR(r->recent);
    Py_CLEAR(r->run_id);
    Py_CLEAR(r->closed_error);
    Py_CLEAR(r->closed_message);
    Py_CLEAR(r->codes);
    Py_CLEAR(r->names);
    Py_CLEAR(r->sources);
    for (int i = 0; i < r->n_types; i++)
        Py_CLEAR(r->type_keys[i]);
    r->n_types = 0;
    for (int i = 0; i < r->n_sources; i++)
        Py_CLEAR(r->source_keys[i]);
    r->n_sources = 0;
    for (int i = 0; i < r->n_names; i++)
        Py_CLEAR(r->name_keys[i]);
    r->n_names = 0;
    Py_CLEAR(r->slots_type);
    r->closed = CLOSED; /* a cleared recorder must not be used */
    return 0;
}

static void
Recorder_dealloc(RecorderObject *r)
{
    PyObject_GC_UnTrack(r);
    Recorder_clear(r);
    Py_CLEAR(r->prefix);
    events_free(&r->ev);
    deliveries_free(&r->dl);
    extras_free(&r->ex);
    updates_free(&r->up);
    named_free(&r->named);
    PyMem_RawFree(r->last.cause);
    PyMem_RawFree(r->last.root);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static int
usable(RecorderObject *r)
{
    if (r->var == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this recorder was cleared by the garbage collector");
        return 0;
    }
    return 1;
}

/* Manual argument parsing for the hot methods: positional fast path, keywords by name. */
static int
parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           const char *const *names, int n, int required, PyObject **out)
{
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname, n,
                     nargs);
        return -1;
    }
    for (int i = 0; i < n; i++)
        out[i] = i < nargs ? args[i] : NULL;
    if (kwnames != NULL) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nk; k++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, k);
            int i = 0;
            while (i < n && PyUnicode_CompareWithASCIIString(key, names[i]) != 0)
                i++;
            if (i == n) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname,
                             key);
                return -1;
            }
            if (out[i] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                             names[i]);
                return -1;
            }
            out[i] = args[nargs + k];
        }
    }
    for (int i = 0; i < required; i++)
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname,
                         names[i]);
            return -1;
        }
    return 0;
}

static PyObject *
Recorder_begin(RecorderObject *r, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"event", "source", "caused_by", "parents"};
    PyObject *a[4];
    if (!usable(r) || parse_args("begin", args, nargs, kwnames, names, 4, 1, a) < 0)
        return NULL;
    Pending p;
    if (prepare(r, a[0], a[1] ? a[1] : Py_None, a[2], a[3], &p) < 0) {
        pending_clear(&p);
        return NULL;
    }
    int64_t root;
    int64_t seq = commit(r, &p, &root, 0);
    if (seq < 0) {
        pending_clear(&p);
        return NULL;
    }
    Kept kept = {0};
    FrameObject *f = NULL;
    if (set_event_id(r, p.metadata, seq) < 0 || (f = new_frame(r, &p, seq, root)) == NULL) {
        /* recorded but not begun: end it at once so its row is complete */
        keep_error(&kept);
        record_end(r, seq, seq, p.created);
        if (p.links != NULL)
            end_links(r, seq, p.links, seq, &kept);
        pending_clear(&p);
        restore_error(&kept);
        return NULL;
    }
    pending_clear(&p);
    f->token = PyContextVar_Set(r->var, (PyObject *)f);
    if (f->token == NULL || (r->ev.n >= 2 * r->batch_size && call_on_full(r) < 0)) {
        keep_error(&kept);
        finish_frame(r, f, &kept);
        Py_DECREF(f);
        restore_error(&kept);
        return NULL;
    }
    return (PyObject *)f;
}

static FrameObject *
own_frame(RecorderObject *r, PyObject *obj)
{
    if (!Py_IS_TYPE(obj, &FrameType)) {
        PyErr_Format(PyExc_TypeError, "expected a Frame from this recorder's begin(), not %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    FrameObject *f = (FrameObject *)obj;
    if (f->recorder != r) {
        PyErr_SetString(PyExc_ValueError, "this frame was begun by another recorder");
        return NULL;
    }
    return f;
}

static PyObject *
Recorder_delivered(RecorderObject *r, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"frame", "handler", "received_ns", "processed_ns",
                                        "error"};
    PyObject *a[5];
    if (!usable(r) || parse_args("delivered", args, nargs, kwnames, names, 5, 4, a) < 0)
        return NULL;
    FrameObject *f = own_frame(r, a[0]);
    if (f == NULL)
        return NULL;
    /* same texts as pure_frames.check_delivery */
    for (int i = 2; i < 4; i++)
        if (!PyLong_Check(a[i])) {
            PyErr_Format(PyExc_TypeError,
                         "%s must be an int, a recorder.clock() reading; got %.100s", names[i],
                         Py_TYPE(a[i])->tp_name);
            return NULL;
        }
    long long readings[2];
    for (int i = 0; i < 2; i++) {
        readings[i] = PyLong_AsLongLong(a[i + 2]);
        if (readings[i] == -1 && PyErr_Occurred()) {
            if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
                PyErr_Clear();
                PyErr_Format(PyExc_OverflowError,
                             "%s %R is too big to convert to a 64-bit clock reading",
                             names[i + 2], a[i + 2]);
            }
            return NULL;
        }
    }
    long long received = readings[0], processed = readings[1];
    if (processed < received) {
        PyErr_Format(PyExc_ValueError,
                     "processed_ns %lld is before received_ns %lld: pass recorder.clock() read "
                     "when the handler started, then when it returned",
                     processed, received);
        return NULL;
    }
    PyObject *owner = NULL;
    const char *error = NULL;
    Py_ssize_t error_len = 0;
    if (a[4] != NULL && a[4] != Py_None && !PyUnicode_Check(a[4])) {
        PyErr_Format(PyExc_TypeError, "error must be str or None, not %.100s",
                     Py_TYPE(a[4])->tp_name);
        return NULL;
    }
    /* a delivery recorded after the run closed would never be drained: refuse it, as begin
       does (after the arguments: a wrong call is reported as such); while it closes, open
       dispatches go on */
    if (handler_code(r, a[1]) < 0)
        return NULL;
    if (r->closed == CLOSED) {
        raise_closed(r);
        return NULL;
    }
    if (a[4] != NULL && a[4] != Py_None) {
        error = utf8_of(a[4], &error_len, &owner);
        if (error == NULL)
            return NULL;
    }
    int rc = add_delivery(r, f, a[1], received, processed, error, error_len);
    Py_XDECREF(owner);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Recorder_end(RecorderObject *r, PyObject *arg)
{
    if (!usable(r))
        return NULL;
    FrameObject *f = own_frame(r, arg);
    if (f == NULL)
        return NULL;
    if (f->ended) {
        PyErr_Format(PyExc_ValueError, "the frame of event %lld has already ended", f->seq);
        return NULL;
    }
    Kept kept = {0};
    finish_frame(r, f, &kept);
    if (restore_error(&kept))
        return NULL;
    Py_RETURN_NONE;
}

/* begin, each handler timed and delivered, end. `handlers` is a tuple of (handler, name) pairs
   or NULL for none; dispatch/on_error/caused_by/parents NULL when absent. */
static PyObject *
publish_event(RecorderObject *r, PyObject *event, PyObject *source, PyObject *handlers,
              PyObject *dispatch, PyObject *on_error, PyObject *caused_by, PyObject *parents)
{
    Py_ssize_t n_handlers = handlers == NULL ? 0 : PyTuple_GET_SIZE(handlers);
    Pending p;
    if (prepare(r, event, source, caused_by, parents, &p) < 0) {
        pending_clear(&p);
        return NULL;
    }
    int64_t root;
    int64_t seq = commit(r, &p, &root, n_handlers == 0);
    if (seq < 0) {
        pending_clear(&p);
        return NULL;
    }
    Kept kept = {0};
    if (n_handlers == 0) {
        /* Ended at commit; the ContextVar is never touched. */
        if (set_event_id(r, p.metadata, seq) < 0)
            keep_error(&kept);
        if (p.links != NULL)
            end_links(r, seq, p.links, seq, &kept);
        if (r->ev.n >= (p.parent == NULL ? 1 : 2) * r->batch_size && call_on_full(r) < 0)
            keep_error(&kept);
        pending_clear(&p);
        if (restore_error(&kept))
            return NULL;
        Py_RETURN_NONE;
    }
    FrameObject *f = NULL;
    if (set_event_id(r, p.metadata, seq) < 0 || (f = new_frame(r, &p, seq, root)) == NULL) {
        keep_error(&kept);
        record_end(r, seq, seq, p.created);
        if (p.links != NULL)
            end_links(r, seq, p.links, seq, &kept);
        pending_clear(&p);
        restore_error(&kept);
        return NULL;
    }
    pending_clear(&p);
    f->token = PyContextVar_Set(r->var, (PyObject *)f);
    if (f->token == NULL || (r->ev.n >= 2 * r->batch_size && call_on_full(r) < 0)) {
        keep_error(&kept);
        finish_frame(r, f, &kept);
        Py_DECREF(f);
        restore_error(&kept);
        return NULL;
    }
    /* One clock read per handler boundary: a handler is received when the previous returned. */
    int64_t received = clock_ns();
    /* Slot 0 is scratch space: PY_VECTORCALL_ARGUMENTS_OFFSET lets a bound method put `self`
       there instead of allocating a new argument array. */
    PyObject *call_args[3] = {NULL, event, NULL};
    Py_INCREF(handlers); /* a handler may unsubscribe: the bus replaces, never mutates, but be safe */
    for (Py_ssize_t i = 0; i < n_handlers; i++) {
        PyObject *pair = PyTuple_GET_ITEM(handlers, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "handlers must be (handler, name) pairs");
            keep_error(&kept);
            break;
        }
        PyObject *handler = PyTuple_GET_ITEM(pair, 0), *name = PyTuple_GET_ITEM(pair, 1);
        PyObject *res;
        if (dispatch == NULL) {
            res = PyObject_Vectorcall(handler, call_args + 1, 1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                      NULL);
        }
        else {
            call_args[2] = handler;
            res = PyObject_Vectorcall(dispatch, call_args + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                      NULL);
        }
        int64_t done = clock_ns();
        if (res != NULL) {
            Py_DECREF(res);
            if (add_delivery(r, f, name, received, done, NULL, 0) < 0) {
                keep_error(&kept);
                break;
            }
            received = done;
            continue;
        }
        Kept failure = {0};
        keep_error(&failure);
        PyObject *owner = NULL;
        Py_ssize_t len = 0;
        const char *desc = describe_error(failure.value, &len, &owner);
        int unrecorded = desc == NULL || add_delivery(r, f, name, received, done, desc, len) < 0;
        if (unrecorded)
            keep_error(&failure); /* recording failed: propagate, with the handler's error */
        Py_XDECREF(owner);
        received = done;
        if (unrecorded || on_error == NULL ||
            !PyErr_GivenExceptionMatches(failure.value, PyExc_Exception)) {
            kept = failure;
            break;
        }
        PyObject *hook_args[3] = {failure.value, name, event};
        PyObject *handled = PyObject_Vectorcall(on_error, hook_args, 3, NULL);
        if (handled == NULL) {
            keep_error(&failure); /* the hook's error, with the handler's as its context */
            kept = failure;
            break;
        }
        Py_DECREF(handled);
        received = clock_ns(); /* the hook's time (logging the error) is no handler's */
        Py_XDECREF(failure.type);
        Py_XDECREF(failure.value);
        Py_XDECREF(failure.tb);
    }
    Py_DECREF(handlers);
    finish_frame(r, f, &kept);
    Py_DECREF(f);
    if (restore_error(&kept))
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Recorder_publish(RecorderObject *r, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"event",    "source",   "handlers", "dispatch",
                                        "on_error", "caused_by", "parents"};
    PyObject *a[7];
    if (!usable(r) || parse_args("publish", args, nargs, kwnames, names, 7, 3, a) < 0)
        return NULL;
    PyObject *handlers = a[2] == Py_None ? NULL : a[2];
    if (handlers != NULL && !PyTuple_Check(handlers)) {
        PyErr_Format(PyExc_TypeError, "handlers must be a tuple of (handler, name), not %.100s",
                     Py_TYPE(handlers)->tp_name);
        return NULL;
    }
    return publish_event(r, a[0], a[1], handlers, a[3] == Py_None ? NULL : a[3],
                         a[4] == Py_None ? NULL : a[4], a[5], a[6]);
}

/* ------------------------------------------------------------------ Publisher */

/* A bus's publish(event, source=None, *, caused_by=None, parents=()) as one C callable, so the
   traced fast path runs no Python frame of the bus: TracedEventBus sets it as the instance's
   `publish`. It is what TracedEventBus.publish does: the handlers of event.event_type from the
   bus's dict (read on every call, since subscribe/unsubscribe replace its values in place),
   then the recorder's publish, named causes included. */

#define LOOKUP_CACHE 16 /* event types whose dict key is cached by identity */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall; /* called with no argument tuple or kwargs dict (PEP 590) */
    RecorderObject *recorder;
    PyObject *by_type;   /* the bus's dict: event type (str) -> NamedHandlers */
    PyObject *dispatch;  /* NULL: call handlers directly */
    PyObject *on_error;  /* NULL: handler errors propagate */
    PyObject *type_keys[LOOKUP_CACHE]; /* event types seen, strong refs */
    PyObject *lookups[LOOKUP_CACHE];   /* what to look each up with in by_type */
    int n_lookups;
} PublisherObject;

static PyObject *str_source, *str_parents;

/* What to look `type` up with in the bus's dict, borrowed. The bus keys its dict by exact str.
   A StrEnum member's __hash__ is Python code (Enum.__hash__), run on every dict lookup with the
   member; the exact str of the same text finds the same entry (same hash, checked once here;
   str's own equality) and hashes from its cached hash, so that lookup runs no Python code.
   Only for str subclasses whose equality is str's and whose hash matches the text's at first
   sight; anything else is looked up as itself, as `dict.get` would. Cached by identity (a
   member's hash does not change; a dict key's must not anyway). */
static PyObject *
lookup_key(PublisherObject *self, PyObject *type)
{
    if (PyUnicode_CheckExact(type))
        return type;
    for (int i = 0; i < self->n_lookups; i++)
        if (self->type_keys[i] == type)
            return self->lookups[i];
    if (!PyUnicode_Check(type) || self->n_lookups >= LOOKUP_CACHE ||
        Py_TYPE(type)->tp_richcompare != PyUnicode_Type.tp_richcompare)
        return type;
    Py_hash_t hash = PyObject_Hash(type);
    if (hash == -1) {
        PyErr_Clear(); /* the dict lookup raises it again, as dict.get would */
        return type;
    }
    PyObject *text = PyUnicode_FromObject(type); /* an exact str copy of its text */
    if (text == NULL) {
        PyErr_Clear();
        return type;
    }
    Py_hash_t text_hash = PyObject_Hash(text);
    if (text_hash != hash) {
        Py_DECREF(text);
        Py_INCREF(type);
        text = type; /* hashes differently from its text: looked up as itself, cached so */
    }
    Py_INCREF(type);
    self->type_keys[self->n_lookups] = type;
    self->lookups[self->n_lookups++] = text;
    return text;
}

static PyObject *
Publisher_vectorcall(PublisherObject *self, PyObject *const *args, size_t nargsf,
                     PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (self->recorder == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this publisher was cleared by the garbage collector");
        return NULL;
    }
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError,
                     "publish() takes 1 or 2 positional arguments (event, source) but %zd were "
                     "given",
                     nargs);
        return NULL;
    }
    PyObject *event = args[0], *source = nargs == 2 ? args[1] : NULL;
    PyObject *caused_by = NULL, *parents = NULL;
    if (kwnames != NULL) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); k++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, k), **slot;
            /* keyword names at call sites are interned: identity first */
            if (key == str_source || PyUnicode_Compare(key, str_source) == 0)
                slot = &source;
            else if (key == str_caused_by || PyUnicode_Compare(key, str_caused_by) == 0)
                slot = &caused_by;
            else if (key == str_parents || PyUnicode_Compare(key, str_parents) == 0)
                slot = &parents;
            else {
                PyErr_Format(PyExc_TypeError, "publish() got an unexpected keyword argument %R",
                             key);
                return NULL;
            }
            if (*slot != NULL) {
                PyErr_Format(PyExc_TypeError, "publish() got multiple values for argument %R",
                             key);
                return NULL;
            }
            *slot = args[nargs + k];
        }
    }
    if (source == NULL)
        source = Py_None;
    RecorderObject *r = self->recorder;
    if (!usable(r))
        return NULL;
    check_slots(r, Py_TYPE(event));
    PyObject *type = event_attr(r, event, A_EVENT_TYPE);
    if (type == NULL) {
        not_an_event(event);
        return NULL;
    }
    PyObject *handlers = PyDict_GetItemWithError(self->by_type, lookup_key(self, type));
    Py_DECREF(type);
    if (handlers == NULL && PyErr_Occurred())
        return NULL;
    if (handlers != NULL && !PyTuple_Check(handlers)) {
        PyErr_Format(PyExc_TypeError, "handlers must be a tuple of (handler, name), not %.100s",
                     Py_TYPE(handlers)->tp_name);
        return NULL;
    }
    /* borrowed from the dict, which code run by the recorder (a hook, a handler) may change */
    Py_XINCREF(handlers);
    PyObject *res = publish_event(r, event, source, handlers, self->dispatch, self->on_error,
                                  caused_by, parents);
    Py_XDECREF(handlers);
    return res;
}

static int
Publisher_traverse(PublisherObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->recorder);
    Py_VISIT(self->by_type);
    Py_VISIT(self->dispatch);
    Py_VISIT(self->on_error);
    for (int i = 0; i < self->n_lookups; i++) {
        Py_VISIT(self->type_keys[i]);
        Py_VISIT(self->lookups[i]);
    }
    return 0;
}

static int
Publisher_clear(PublisherObject *self)
{
    Py_CLEAR(self->recorder);
    Py_CLEAR(self->by_type);
    Py_CLEAR(self->dispatch);
    Py_CLEAR(self->on_error);
    for (int i = 0; i < self->n_lookups; i++) {
        Py_CLEAR(self->type_keys[i]);
        Py_CLEAR(self->lookups[i]);
    }
    self->n_lookups = 0;
    return 0;
}

static void
Publisher_dealloc(PublisherObject *self)
{
    PyObject_GC_UnTrack(self);
    Publisher_clear(self);
    PyObject_GC_Del(self);
}

static PyTypeObject PublisherType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "eventstore.tracing._recorder.Publisher",
    .tp_basicsize = sizeof(PublisherObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "publish(event, source=None, *, caused_by=None, parents=()): a traced bus's "
              "publish, made by Recorder.publisher().",
    .tp_vectorcall_offset = offsetof(PublisherObject, vectorcall),
    .tp_call = PyVectorcall_Call, /* a call with a tuple and dict (rare) is converted */
    .tp_dealloc = (destructor)Publisher_dealloc,
    .tp_traverse = (traverseproc)Publisher_traverse,
    .tp_clear = (inquiry)Publisher_clear,
};

static PyObject *
Recorder_publisher(RecorderObject *r, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"handlers_by_type", "dispatch", "on_error"};
    PyObject *a[3];
    if (!usable(r) || parse_args("publisher", args, nargs, kwnames, names, 3, 3, a) < 0)
        return NULL;
    if (!PyDict_Check(a[0])) {
        PyErr_Format(PyExc_TypeError, "handlers_by_type must be a dict, not %.100s",
                     Py_TYPE(a[0])->tp_name);
        return NULL;
    }
    for (int i = 1; i < 3; i++)
        if (a[i] != Py_None && !PyCallable_Check(a[i])) {
            PyErr_Format(PyExc_TypeError, "%s must be callable or None, not %.100s", names[i],
                         Py_TYPE(a[i])->tp_name);
            return NULL;
        }
    PublisherObject *self = PyObject_GC_New(PublisherObject, &PublisherType);
    if (self == NULL)
        return NULL;
    self->vectorcall = (vectorcallfunc)Publisher_vectorcall;
    Py_INCREF(r);
    self->recorder = r;
    self->by_type = Py_NewRef(a[0]);
    self->dispatch = a[1] == Py_None ? NULL : Py_NewRef(a[1]);
    self->on_error = a[2] == Py_None ? NULL : Py_NewRef(a[2]);
    self->n_lookups = 0;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyObject *
Recorder_raise_end(RecorderObject *r, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "raise_end(seq, end) takes 2 arguments");
        return NULL;
    }
    int64_t seq, end;
    if (as_seq(args[0], "seq", &seq) < 0 || as_seq(args[1], "end", &end) < 0)
        return NULL;
    if (seq > r->last_seq) {
        PyErr_Format(PyExc_ValueError, "no event %lld has been recorded yet", (long long)seq);
        return NULL;
    }
    if (record_end(r, seq, end, NONE_NS) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Recorder_lookup(RecorderObject *r, PyObject *arg)
{
    long long seq = PyLong_AsLongLong(arg);
    if (seq == -1 && PyErr_Occurred())
        return NULL;
    int64_t cause, root;
    if (!lookup_held(r, seq, &cause, &root))
        Py_RETURN_NONE;
    if (cause == 0)
        return Py_BuildValue("(OL)", Py_None, (long long)root);
    return Py_BuildValue("(LL)", (long long)cause, (long long)root);
}

static PyObject *
Recorder_clock(RecorderObject *Py_UNUSED(r), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLongLong(clock_ns());
}

static PyObject *
Recorder_current(RecorderObject *r, PyObject *Py_UNUSED(ignored))
{
    if (!usable(r))
        return NULL;
    PyObject *current;
    if (PyContextVar_Get(r->var, NULL, &current) < 0)
        return NULL;
    if (current == NULL)
        Py_RETURN_NONE;
    return current;
}

static PyObject *
Recorder_close(RecorderObject *r, PyObject *Py_UNUSED(ignored))
{
    r->closed = CLOSED;
    Py_RETURN_NONE;
}

static PyObject *
Recorder_begin_close(RecorderObject *r, PyObject *Py_UNUSED(ignored))
{
    if (r->closed == OPEN)
        r->closed = CLOSING;
    Py_RETURN_NONE;
}

static PyObject *
Recorder_open_frames(RecorderObject *r, PyObject *Py_UNUSED(ignored))
{
    PyObject *found = PyList_New(0);
    if (found == NULL)
        return NULL;
    for (FrameObject *f = r->open; f != NULL; f = f->open_next) {
        PyObject *item = Py_BuildValue("(Lk)", f->seq, f->thread);
        if (item == NULL || PyList_Append(found, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(found);
            return NULL;
        }
        Py_DECREF(item);
    }
    if (PyList_Reverse(found) < 0) { /* oldest first */
        Py_DECREF(found);
        return NULL;
    }
    return found;
}

/* ------------------------------------------------------------------ take */

/* One Arrow column as buffers: validity bitmap (NULL: no nulls), offsets (strings only), data. */
typedef struct {
    PyObject *validity, *offsets, *data;
    Py_ssize_t nulls;
} Column;

static char *
new_buffer(PyObject **out, Py_ssize_t size)
{
    *out = PyBytes_FromStringAndSize(NULL, size);
    return *out == NULL ? NULL : PyBytes_AS_STRING(*out);
}

/* The validity bitmap of n rows (LSB first, 1 = valid), or none if no row is null. */
static int
validity(Column *c, Py_ssize_t n, Py_ssize_t nulls, const uint8_t *valid)
{
    c->nulls = nulls;
    if (nulls == 0)
        return 0;
    uint8_t *bits = (uint8_t *)new_buffer(&c->validity, (n + 7) / 8);
    if (bits == NULL)
        return -1;
    memset(bits, 0, (size_t)(n + 7) / 8);
    for (Py_ssize_t i = 0; i < n; i++)
        if (valid[i])
            bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    return 0;
}

/* int64 values minus `minus`; rows equal to `null` (when nullable) become nulls. `scratch`
   holds n bytes for the valid flags. */
static int
column_i64(Column *c, const int64_t *src, Py_ssize_t n, int nullable, int64_t null, int64_t minus,
           uint8_t *scratch)
{
    int64_t *dst = (int64_t *)new_buffer(&c->data, n * 8);
    if (dst == NULL)
        return -1;
    Py_ssize_t nulls = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int ok = !nullable || src[i] != null;
        scratch[i] = (uint8_t)ok;
        nulls += !ok;
        dst[i] = ok ? src[i] - minus : 0;
    }
    return validity(c, n, nulls, scratch);
}

static int
column_i32(Column *c, const int32_t *src, Py_ssize_t n, int nullable, uint8_t *scratch)
{
    int32_t *dst = (int32_t *)new_buffer(&c->data, n * 4);
    if (dst == NULL)
        return -1;
    Py_ssize_t nulls = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int ok = !nullable || src[i] >= 0;
        scratch[i] = (uint8_t)ok;
        nulls += !ok;
        dst[i] = ok ? src[i] : 0;
    }
    return validity(c, n, nulls, scratch);
}

/* A string column from per-row end offsets: int32 offsets, or int64 (large_string) past 2 GiB. */
static int
column_str(Column *c, const Bytes *data, const int64_t *ends, const uint8_t *valid, Py_ssize_t n)
{
    char *out = new_buffer(&c->data, (Py_ssize_t)data->len);
    if (out == NULL)
        return -1;
    if (data->len)
        memcpy(out, data->p, data->len);
    if (data->len <= INT32_MAX) {
        int32_t *off = (int32_t *)new_buffer(&c->offsets, (n + 1) * 4);
        if (off == NULL)
            return -1;
        off[0] = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            off[i + 1] = (int32_t)ends[i];
    }
    else {
        int64_t *off = (int64_t *)new_buffer(&c->offsets, (n + 1) * 8);
        if (off == NULL)
            return -1;
        off[0] = 0;
        memcpy(off + 1, ends, (size_t)n * 8);
    }
    Py_ssize_t nulls = 0;
    if (valid != NULL)
        for (Py_ssize_t i = 0; i < n; i++)
            nulls += !valid[i];
    return validity(c, n, nulls, valid);
}

static void
column_clear(Column *c)
{
    Py_CLEAR(c->validity);
    Py_CLEAR(c->offsets);
    Py_CLEAR(c->data);
}

static PyObject *
column_tuple(Column *c)
{
    PyObject *v = c->validity ? c->validity : Py_None;
    if (c->offsets != NULL)
        return Py_BuildValue("(nOOO)", c->nulls, v, c->offsets, c->data);
    return Py_BuildValue("(nOO)", c->nulls, v, c->data);
}

enum { EV_COLS = 11, ED_COLS = 3, DL_COLS = 6, UP_COLS = 3 };

static PyObject *
table_tuple(Py_ssize_t n, Column *cols, int count)
{
    PyObject *columns = PyTuple_New(count);
    if (columns == NULL)
        return NULL;
    for (int i = 0; i < count; i++) {
        PyObject *col = column_tuple(&cols[i]);
        if (col == NULL) {
            Py_DECREF(columns);
            return NULL;
        }
        PyTuple_SET_ITEM(columns, i, col);
    }
    PyObject *table = Py_BuildValue("(nN)", n, columns);
    return table;
}

static PyObject *
Recorder_take(RecorderObject *r, PyObject *arg)
{
    if (!usable(r))
        return NULL;
    int keep = PyObject_IsTrue(arg);
    if (keep < 0)
        return NULL;
    /* Buffers are copied into bytes objects first: allocating bytes never runs Python code
       (they are not tracked by the garbage collector), so no thread can record in between
       and the tables are consistent. Tuples (which may trigger a collection) come after. */
    Events *e = &r->ev;
    Deliveries *d = &r->dl;
    Extras *x = &r->ex;
    Updates *u = &r->up;
    Py_ssize_t n = e->n, nd = d->n, nu = u->n, ne = x->n;
    for (Py_ssize_t i = 0; i < n; i++)
        ne += e->cause[i] != 0;
    Column ev[EV_COLS], ed[ED_COLS], dl[DL_COLS], up[UP_COLS];
    memset(ev, 0, sizeof(ev));
    memset(ed, 0, sizeof(ed));
    memset(dl, 0, sizeof(dl));
    memset(up, 0, sizeof(up));
    Py_ssize_t most = n > nd ? n : nd;
    most = most > nu ? most : nu;
    uint8_t *scratch = PyMem_RawMalloc((size_t)most + 1);
    PyObject *result = NULL, *tables[4] = {NULL, NULL, NULL, NULL};
    if (scratch == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    int64_t origin = r->origin;
    /* events */
    int64_t *seqs = (int64_t *)new_buffer(&ev[0].data, n * 8);
    if (seqs == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++)
        seqs[i] = r->base + i;
    if (column_i32(&ev[1], e->type, n, 0, scratch) || column_i64(&ev[2], e->time, n, 1, NONE_NS, 0, scratch) ||
        column_i32(&ev[3], e->source, n, 1, scratch) || column_i64(&ev[4], e->cause, n, 1, 0, 0, scratch) ||
        column_i64(&ev[5], e->root, n, 0, 0, 0, scratch) || column_i64(&ev[6], e->end, n, 1, 0, 0, scratch) ||
        column_i64(&ev[7], e->created, n, 0, 0, origin, scratch) ||
        column_i64(&ev[8], e->emitted, n, 1, NONE_NS, origin, scratch) ||
        column_str(&ev[9], &e->payload, e->payload_end, NULL, n) ||
        column_str(&ev[10], &e->part, e->part_end, e->part_valid, n))
        goto done;
    /* edges: each event's caused_by edge, then its extra edges (both in child seq order) */
    {
        int64_t *parent = (int64_t *)new_buffer(&ed[0].data, ne * 8);
        int64_t *child = (int64_t *)new_buffer(&ed[1].data, ne * 8);
        int32_t *kind = (int32_t *)new_buffer(&ed[2].data, ne * 4);
        if (parent == NULL || child == NULL || kind == NULL)
            goto done;
        Py_ssize_t k = 0, j = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t seq = r->base + i;
            if (e->cause[i] != 0) {
                parent[k] = e->cause[i];
                child[k] = seq;
                kind[k++] = r->caused_by;
            }
            for (; j < x->n && x->child[j] == seq; j++) {
                parent[k] = x->parent[j];
                child[k] = seq;
                kind[k++] = x->kind[j];
            }
        }
    }
    /* deliveries */
    if (column_i64(&dl[0], d->seq, nd, 0, 0, 0, scratch) || column_i32(&dl[1], d->code, nd, 0, scratch) ||
        column_i64(&dl[2], d->received, nd, 0, 0, origin, scratch) ||
        column_i64(&dl[3], d->processed, nd, 0, 0, origin, scratch) ||
        column_i64(&dl[4], d->self_ns, nd, 0, 0, 0, scratch) ||
        column_str(&dl[5], &d->error, d->error_end, d->error_valid, nd))
        goto done;
    /* end updates */
    if (column_i64(&up[0], u->seq, nu, 0, 0, 0, scratch) || column_i64(&up[1], u->end, nu, 0, 0, 0, scratch) ||
        column_i64(&up[2], u->emitted, nu, 1, NONE_NS, origin, scratch))
        goto done;
    if (!keep) {
        if (n > 0)
            last_drained_keep(&r->last, e, r->base, n);
        r->base += n;
        e->n = 0;
        e->payload.len = e->part.len = 0;
        d->n = 0;
        d->error.len = 0;
        x->n = 0;
        u->n = 0;
    }
    /* From here on Python code may run (a collection): the recorder is consistent again. */
    if ((tables[0] = table_tuple(n, ev, EV_COLS)) == NULL ||
        (tables[1] = table_tuple(ne, ed, ED_COLS)) == NULL ||
        (tables[2] = table_tuple(nd, dl, DL_COLS)) == NULL ||
        (tables[3] = table_tuple(nu, up, UP_COLS)) == NULL)
        goto done;
    PyObject *names = PyList_AsTuple(r->names);
    if (names == NULL)
        goto done;
    result = Py_BuildValue("(OOOON)", tables[0], tables[1], tables[2], tables[3], names);
done:
    PyMem_RawFree(scratch);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(tables[i]);
    for (int i = 0; i < EV_COLS; i++)
        column_clear(&ev[i]);
    for (int i = 0; i < ED_COLS; i++)
        column_clear(&ed[i]);
    for (int i = 0; i < DL_COLS; i++)
        column_clear(&dl[i]);
    for (int i = 0; i < UP_COLS; i++)
        column_clear(&up[i]);
    return result;
}

/* ------------------------------------------------------------------ Recorder properties */

static PyObject *
Recorder_get_origin(RecorderObject *r, void *Py_UNUSED(c))
{
    return PyLong_FromLongLong(r->origin);
}

static PyObject *
Recorder_get_event_count(RecorderObject *r, void *Py_UNUSED(c))
{
    return PyLong_FromLongLong(r->last_seq);
}

static PyObject *
Recorder_get_pending(RecorderObject *r, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(r->ev.n);
}

static PyObject *
Recorder_get_closed(RecorderObject *r, void *Py_UNUSED(c))
{
    return PyBool_FromLong(r->closed == CLOSED);
}

static PyObject *
Recorder_get_lineage_exact(RecorderObject *r, void *Py_UNUSED(c))
{
    return PyBool_FromLong(r->lineage_exact);
}

static PyGetSetDef Recorder_getset[] = {
    {"origin_ns", (getter)Recorder_get_origin, NULL, "Clock reading at construction.", NULL},
    {"event_count", (getter)Recorder_get_event_count, NULL, "Events begun so far (the last seq).",
     NULL},
    {"pending", (getter)Recorder_get_pending, NULL, "Events recorded and not drained yet.", NULL},
    {"closed", (getter)Recorder_get_closed, NULL, "True after close().", NULL},
    {"lineage_exact", (getter)Recorder_get_lineage_exact, NULL,
     "False once a named parent's ancestors had left memory (their bounds are unknowable).",
     NULL},
    {NULL},
};

/* Docstrings: the first line is a text signature (``inspect.signature`` and ``help()`` read
   it), the rest says what the pure-Python twin's docstrings say (``recorder.py``). */
PyDoc_STRVAR(clock_doc, "clock($self, /)\n--\n\nThe monotonic clock, in ns (time.perf_counter_ns()).");
PyDoc_STRVAR(current_doc,
             "current($self, /)\n--\n\n"
             "The frame of the event being handled in this thread or asyncio task, or None.");
PyDoc_STRVAR(begin_doc,
             "begin($self, /, event, source=None, caused_by=None, parents=())\n--\n\n"
             "Give the event its seq and id (event.metadata['event_id']), record it with its\n"
             "cause (the event being handled in this thread or asyncio task, unless caused_by\n"
             "names another) and the extra (kind, parent) edges of parents, and make it the\n"
             "current cause until end(). Returns its Frame.");
PyDoc_STRVAR(delivered_doc,
             "delivered($self, /, frame, handler, received_ns, processed_ns, error=None)\n--\n\n"
             "One handler call of frame's event: handler its name (a string), the clock()\n"
             "readings when it started and returned (in that order: else a ValueError), error\n"
             "what it raised, if anything. Its self time is its inclusive time minus the\n"
             "deliveries nested inside it.");
PyDoc_STRVAR(end_doc,
             "end($self, frame, /)\n--\n\n"
             "The dispatch of frame's event is over: records its end_seq and emitted_ns. Call it\n"
             "in the thread or asyncio task that called begin(): elsewhere the event is ended all\n"
             "the same, but the ValueError raised says that begin's context still has it as its\n"
             "cause.");
PyDoc_STRVAR(publish_doc,
             "publish($self, /, event, source, handlers, dispatch=None, on_error=None,\n"
             "        caused_by=None, parents=())\n--\n\n"
             "begin(), each handler of handlers ((handler, name) pairs) called, timed and\n"
             "delivered, then end(): what TracedEventBus calls, in one call. dispatch(event,\n"
             "handler) calls a handler (default: handler(event)); on_error(error, name, event)\n"
             "is called when a handler raises an Exception, and returning goes on with the next\n"
             "handler (without it, the error is raised).");
PyDoc_STRVAR(publisher_doc,
             "publisher($self, /, handlers_by_type, dispatch, on_error)\n--\n\n"
             "A bus's publish callable, publish(event, source=None, caused_by=None, parents=()),\n"
             "that looks the event's handlers up in handlers_by_type (event type -> (handler,\n"
             "name) pairs) and records as publish() does.");
PyDoc_STRVAR(raise_end_doc,
             "raise_end($self, seq, end, /)\n--\n\n"
             "Make end_seq of event seq at least end (drained or not).");
PyDoc_STRVAR(lookup_doc,
             "lookup($self, seq, /)\n--\n\n"
             "(causation_seq, root_seq) of an event still buffered or in the batch drained last,\n"
             "else None.");
PyDoc_STRVAR(take_doc,
             "take($self, keep, /)\n--\n\n"
             "The buffers as Arrow-layout bytes (compiled_recorder.py reads them); keep=False\n"
             "empties them. Use drain() or snapshot().");
PyDoc_STRVAR(close_doc,
             "close($self, /)\n--\n\n"
             "Refuse further events and deliveries; what is buffered can still be drained.");
PyDoc_STRVAR(begin_close_doc,
             "begin_close($self, /)\n--\n\n"
             "Refuse new root events; the dispatches still open go on (their deliveries, ends\n"
             "and the events their handlers publish are recorded) until close().");
PyDoc_STRVAR(open_frames_doc,
             "open_frames($self, /)\n--\n\n"
             "(seq, thread ident) of every frame begun and not ended, oldest first; the ident is\n"
             "threading.get_ident() of the thread that began it.");

static PyMethodDef Recorder_methods[] = {
    {"clock", (PyCFunction)Recorder_clock, METH_NOARGS, clock_doc},
    {"current", (PyCFunction)Recorder_current, METH_NOARGS, current_doc},
    {"begin", (PyCFunction)(void (*)(void))Recorder_begin, METH_FASTCALL | METH_KEYWORDS,
     begin_doc},
    {"delivered", (PyCFunction)(void (*)(void))Recorder_delivered, METH_FASTCALL | METH_KEYWORDS,
     delivered_doc},
    {"end", (PyCFunction)Recorder_end, METH_O, end_doc},
    {"publish", (PyCFunction)(void (*)(void))Recorder_publish, METH_FASTCALL | METH_KEYWORDS,
     publish_doc},
    {"publisher", (PyCFunction)(void (*)(void))Recorder_publisher, METH_FASTCALL | METH_KEYWORDS,
     publisher_doc},
    {"raise_end", (PyCFunction)(void (*)(void))Recorder_raise_end, METH_FASTCALL, raise_end_doc},
    {"lookup", (PyCFunction)Recorder_lookup, METH_O, lookup_doc},
    {"take", (PyCFunction)Recorder_take, METH_O, take_doc},
    {"close", (PyCFunction)Recorder_close, METH_NOARGS, close_doc},
    {"begin_close", (PyCFunction)Recorder_begin_close, METH_NOARGS, begin_close_doc},
    {"open_frames", (PyCFunction)Recorder_open_frames, METH_NOARGS, open_frames_doc},
    {NULL},
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "eventstore.tracing._recorder.Recorder",
    .tp_basicsize = sizeof(RecorderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Recorder(id_prefix, batch_size, hooks): the compiled trace recorder.",
    .tp_new = Recorder_new,
    .tp_dealloc = (destructor)Recorder_dealloc,
    .tp_traverse = (traverseproc)Recorder_traverse,
    .tp_clear = (inquiry)Recorder_clear,
    .tp_methods = Recorder_methods,
    .tp_getset = Recorder_getset,
};

/* ------------------------------------------------------------------ Frame */

static int
Frame_traverse(FrameObject *f, visitproc visit, void *arg)
{
    Py_VISIT(f->parent);
    Py_VISIT(f->token);
    Py_VISIT(f->recorder);
    return 0;
}

static int
Frame_clear(FrameObject *f)
{
    if (!f->ended && f->recorder != NULL) { /* dropped unended: nothing can end it now */
        f->ended = 1;
        unlink_open(f->recorder, f);
    }
    Py_CLEAR(f->parent);
    Py_CLEAR(f->token);
    PyMem_Free(f->links);
    f->links = NULL;
    Py_CLEAR(f->recorder);
    return 0;
}

static void
Frame_dealloc(FrameObject *f)
{
    PyObject_GC_UnTrack(f);
    Frame_clear(f);
    if (frame_free_count < FRAME_FREELIST)
        frame_freelist[frame_free_count++] = f;
    else
        PyObject_GC_Del(f);
}

static PyObject *
Frame_repr(FrameObject *f)
{
    return PyUnicode_FromFormat("<Frame seq=%lld root=%lld end=%lld>", f->seq, f->root, f->end);
}

static PyMemberDef Frame_members[] = {
    {"seq", T_LONGLONG, offsetof(FrameObject, seq), READONLY, "The event's seq."},
    {"root", T_LONGLONG, offsetof(FrameObject, root), READONLY, "Its root_seq."},
    {"end", T_LONGLONG, offsetof(FrameObject, end), READONLY,
     "The largest seq published during this dispatch so far."},
    {NULL},
};

static PyTypeObject FrameType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "eventstore.tracing._recorder.Frame",
    .tp_basicsize = sizeof(FrameObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One event's dispatch, as the recorder tracks it.",
    .tp_dealloc = (destructor)Frame_dealloc,
    .tp_traverse = (traverseproc)Frame_traverse,
    .tp_clear = (inquiry)Frame_clear,
    .tp_repr = (reprfunc)Frame_repr,
    .tp_members = Frame_members,
};

/* ------------------------------------------------------------------ module */

static struct PyModuleDef recorder_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "eventstore.tracing._recorder",
    .m_doc = "The compiled recorder (see eventstore.tracing.recorder for the API).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__recorder(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL)
        return NULL;
    struct {
        PyObject **slot;
        const char *text;
    } strings[] = {
        {&str_event_type, "event_type"}, {&str_timestamp, "timestamp"},
        {&str_payload, "payload"},       {&str_metadata, "metadata"},
        {&str_partition_key, "partition_key"}, {&str_event_id, "event_id"},
        {&str_utcoffset, "utcoffset"},   {&str_caused_by, "caused_by"},
        {&str_get, "get"},
        {&str_source, "source"},         {&str_parents, "parents"},
    };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (*strings[i].slot == NULL) {
            *strings[i].slot = PyUnicode_InternFromString(strings[i].text);
            if (*strings[i].slot == NULL)
                return NULL;
        }
    }
    if (PyType_Ready(&RecorderType) < 0 || PyType_Ready(&FrameType) < 0 ||
        PyType_Ready(&PublisherType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&recorder_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Recorder", (PyObject *)&RecorderType) < 0 ||
        PyModule_AddObjectRef(m, "Frame", (PyObject *)&FrameType) < 0 ||
        PyModule_AddObjectRef(m, "Publisher", (PyObject *)&PublisherType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
