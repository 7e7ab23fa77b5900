/* librnninfer: load an rnnkit model file and classify text.
 *
 * Conventions
 *  - Every fallible call returns rnn_status; RNN_OK is 0. On failure,
 *    rnn_last_error() gives a message for the calling thread, valid until
 *    that thread's next failing call.
 *  - Text is UTF-8 given as (pointer, length); it need not be NUL-terminated.
 *    Invalid bytes are replaced by U+FFFD, as the tokenizers do.
 *  - Output buffers belong to the caller; their capacities are passed in.
 *  - One loaded model may be used from many threads at once.
 *  - Texts longer than RNN_MAX_TOKENS tokens (after tokenization) are cut to
 *    that length by the model's truncation rule, so any input has a bounded cost.
 *  - Any argument values get a status, never a crash: a pointer may be NULL only
 *    where its comment says so; counts and capacities are checked before anything
 *    is read or written (a count whose buffer could not exist is INVALID_ARGUMENT).
 *  - The same file, text and kernel set give the same bits, whatever the load order,
 *    the alignment of a buffer given to rnn_model_load_buffer, the other texts of a
 *    batch, or the pieces a stream was fed in.
 */
#ifndef RNNINFER_H
#define RNNINFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 2 added streams (rnn_stream_*), explanations (rnn_explain) and RNN_ERROR_UNSUPPORTED. */
#define RNN_ABI_VERSION 2
#define RNN_MAX_TOKENS 65536

typedef enum rnn_status {
    RNN_OK = 0,
    RNN_ERROR_INVALID_ARGUMENT = 1, /* a NULL where none is allowed, a bad index, k out of range, an impossible count */
    RNN_ERROR_IO = 2,               /* the file cannot be opened or read */
    RNN_ERROR_FORMAT = 3,           /* not a model file, truncated, corrupt, checksum mismatch */
    RNN_ERROR_VERSION = 4,          /* a model format major version this library does not read */
    RNN_ERROR_BUFFER_TOO_SMALL = 5, /* the caller's buffer is smaller than needed; see the out count */
    RNN_ERROR_UNSUPPORTED = 6       /* the model cannot do what was asked (a stream of a padded model); see the message */
} rnn_status;

typedef struct rnn_model rnn_model;

typedef struct rnn_model_info {
    uint32_t format_major, format_minor;
    uint32_t cell;          /* 0 rnn, 1 lstm, 2 gru */
    uint32_t layers;
    uint32_t bidirectional; /* 0 or 1 */
    uint32_t embedding, hidden;
    uint32_t vocabulary_size;
    uint32_t labels;
    uint32_t tokenizer;     /* 0 word-level, 1 WordPiece */
    uint32_t max_length;    /* 0 = unlimited */
} rnn_model_info;

uint32_t rnn_abi_version(void);
const char *rnn_library_version(void);
/* The model file versions this library reads: every minor version of `major` (a minor version only adds
 * what older readers may ignore); max_minor is the newest minor it knows. Either pointer may be NULL. */
void rnn_supported_format(uint32_t *major, uint32_t *max_minor);
/* The calling thread's last failure, or NULL before any. */
const char *rnn_last_error(void);

/* path and model must not be NULL; on failure *model is NULL. */
rnn_status rnn_model_load(const char *path, rnn_model **model);
/* model must not be NULL; data may be NULL only when size is 0. The bytes are copied: the buffer may go
 * once the call returns, and may start at any address. */
rnn_status rnn_model_load_buffer(const void *data, size_t size, rnn_model **model);
void rnn_model_free(rnn_model *model); /* NULL is a no-op */

/* model and info must not be NULL. */
rnn_status rnn_model_get_info(const rnn_model *model, rnn_model_info *info);
/* 0 for a NULL model. */
size_t rnn_model_label_count(const rnn_model *model);
/* Copies label `index`'s name, NUL-terminated, into name[capacity]; *length gets its byte length (without
 * the NUL), also when the name does not fit (RNN_ERROR_BUFFER_TOO_SMALL). model must not be NULL; name may
 * be NULL only when capacity is 0, to ask for the length; length may be NULL. */
rnn_status rnn_model_label(const rnn_model *model, size_t index, char *name, size_t capacity, size_t *length);

/* probabilities[capacity] receives one probability per label (capacity >= the label count); *best the most
 * likely label. model and probabilities must not be NULL; text may be NULL only when length is 0;
 * best may be NULL. */
rnn_status rnn_classify(const rnn_model *model, const char *text, size_t length,
                        float *probabilities, size_t capacity, int32_t *best);
/* count texts; probabilities has count × labels entries (a row per text), best count entries. model and
 * probabilities must not be NULL; texts and lengths may be NULL only when count is 0; texts[i] may be NULL
 * only when lengths[i] is 0; best may be NULL. */
rnn_status rnn_classify_batch(const rnn_model *model, const char *const *texts, const size_t *lengths, size_t count,
                              float *probabilities, size_t capacity, int32_t *best);
/* The k most likely labels (1 <= k <= the label count), most likely first, into labels[k] and, unless it
 * is NULL, probabilities[k]. model and labels must not be NULL; text may be NULL only when length is 0. */
rnn_status rnn_top_k(const rnn_model *model, const char *text, size_t length, size_t k,
                     int32_t *labels, float *probabilities);
/* The ids the model reads for text (markers, truncation, padding applied). *count gets the number of ids,
 * also when it exceeds capacity (then RNN_ERROR_BUFFER_TOO_SMALL). model and count must not be NULL; ids may
 * be NULL only when capacity is 0, to ask for the count; text may be NULL only when length is 0. */
rnn_status rnn_tokenize(const rnn_model *model, const char *text, size_t length,
                        int32_t *ids, size_t capacity, size_t *count);

/* Explanations: why a text gets a label.
 *
 * For each token of the text that the model reads (in text order; markers, padding and tokens cut by
 * truncation are not listed), the bytes of the text it stands for and its score for the label: gradient ×
 * input, the gradient of the label's log-probability with respect to the token's embedding, dotted with that
 * embedding, from one backward pass through the model (about three classifications' work). Positive scores
 * push towards the label, negative ones away from it. */
typedef struct rnn_token_score {
    size_t start, end; /* the token's bytes: text[start] … text[end - 1] (a word, or a WordPiece piece of one) */
    int32_t id;        /* its id in the model's vocabulary */
    float score;
} rnn_token_score;

/* label is a label index (0 <= label < the label count). *count gets the number of tokens, also when it
 * exceeds capacity (then RNN_ERROR_BUFFER_TOO_SMALL); it is never more than length, so a capacity of length
 * always suffices. model and count must not be NULL; tokens may be NULL only when capacity is 0; text may be
 * NULL only when length is 0. */
rnn_status rnn_explain(const rnn_model *model, const char *text, size_t length, size_t label,
                       rnn_token_score *tokens, size_t capacity, size_t *count);

/* Streams: classify a text while it arrives (chat, logs, live transcripts).
 *
 * Feed the text's UTF-8 bytes in any pieces — a piece may end mid-word or mid-code point — and ask for the
 * probabilities at any time: they equal, bit for bit, those of rnn_classify on everything fed so far. A piece
 * costs time for its own bytes (and the word left unfinished before it), not for the text before it.
 * A stream belongs to one thread at a time; any number of streams may share one model, and a stream keeps
 * its model loaded (rnn_model_free may come first).
 *
 * rnn_stream_open refuses, with RNN_ERROR_UNSUPPORTED, models whose input for the start of a text depends on
 * its end: bidirectional models (the reverse direction starts at the last token), padded models (the pads
 * before or after the text depend on its length) and models that truncate from the head (they keep a
 * text's last tokens). */
typedef struct rnn_stream rnn_stream;

/* model and stream must not be NULL; on failure *stream is NULL. */
rnn_status rnn_stream_open(const rnn_model *model, rnn_stream **stream);
/* stream must not be NULL; text may be NULL only when length is 0. */
rnn_status rnn_stream_feed(rnn_stream *stream, const char *text, size_t length);
/* As rnn_classify, for the text fed so far. stream and probabilities must not be NULL; best may be NULL. */
rnn_status rnn_stream_probabilities(rnn_stream *stream, float *probabilities, size_t capacity, int32_t *best);
/* Forgets the text fed so far. stream must not be NULL. */
rnn_status rnn_stream_reset(rnn_stream *stream);
void rnn_stream_free(rnn_stream *stream); /* NULL is a no-op */

#ifdef __cplusplus
}
#endif
#endif
