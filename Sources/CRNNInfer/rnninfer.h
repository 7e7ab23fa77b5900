/* librnninfer: load an rnnkit model file and classify text.
 *
 * SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 the rnnkit authors. Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain a copy of the License at
 * http://www.apache.org/licenses/LICENSE-2.0. Unless required by applicable law or agreed to in writing,
 * software distributed under the License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS
 * OF ANY KIND, either express or implied. See the License for the specific language governing permissions and
 * limitations under the License.
 *
 * Conventions
 *  - Every fallible call returns rnn_status; RNN_OK is 0. rnn_status_string names a status;
 *    rnn_last_error() gives the message of the calling thread's last failing call. It is meaningful only right
 *    after a call returned a status other than RNN_OK: successful calls leave it as it was.
 *  - Text is UTF-8 given as (pointer, length); it need not be NUL-terminated.
 *    Invalid bytes are replaced by U+FFFD, as the tokenizers do.
 *  - Output buffers belong to the caller; their capacities are passed in. Where a call reports the size it
 *    needs (a name, ids, tokens, a metadata value), a NULL buffer with capacity 0 asks for that size: the call
 *    succeeds and writes only the size (snprintf's convention). A non-zero capacity that is too small is
 *    RNN_ERROR_BUFFER_TOO_SMALL, and the size is written too.
 *  - Label indices are int32_t wherever they go in or come out.
 *  - One loaded model may be used from many threads at once.
 *  - Texts longer than RNN_MAX_TOKENS tokens (after tokenization) are cut to
 *    that length by the model's truncation rule, so any input has a bounded cost.
 *  - Any argument values get a status, never a crash: a pointer may be NULL only
 *    where its comment says so; counts and capacities are checked before anything
 *    is read or written (a count whose buffer could not exist is INVALID_ARGUMENT).
 *  - The same file, text and kernel set give the same bits, whatever the load order,
 *    the alignment of a buffer given to rnn_model_load_buffer, the other texts of a
 *    batch, the number of threads, or the pieces a stream was fed in.
 *
 * A guest in its host's process
 *  - The library changes no process-wide state: it links no BLAS and sets no BLAS, signal, locale or
 *    environment setting. It reads one environment variable, RNNKIT_KERNELS, and only when a load is given no
 *    kernel set of its own.
 *  - It starts no threads except during a batch call on a model loaded with rnn_load_options.threads > 1,
 *    which runs slices of that batch on up to that many threads (the caller's among them) and joins them all
 *    before it returns. Every other call runs on the caller's thread.
 *
 * Versions
 *  - RNN_ABI_VERSION is the version of this header's functions and types; rnn_abi_version() is the loaded
 *    library's. They change together whenever a signature, a struct layout (beyond a struct's own size field),
 *    a status's meaning or a documented behaviour changes; adding a function does not change them. The shared
 *    library is librnninfer.so.<ABI> (its SONAME), so a program linked against one ABI is never loaded with
 *    another by the dynamic loader. A program that loads the library at run time (dlopen, ctypes) must compare
 *    rnn_abi_version() with the ABI it was written for and refuse to go on when they differ.
 *  - rnn_library_version() is the release (the rnnkit version, e.g. "0.2.0"); rnn_supported_format() the
 *    model files it reads.
 *
 * ABI history
 *  3: rnn_model_load_with_options / rnn_model_load_buffer_with_options (kernel set and threads per model; an
 *     unknown or unavailable kernel set, also from RNNKIT_KERNELS, is an error), rnn_status_string,
 *     rnn_model_metadata*, rnn_logits*, rnn_classify_ids, RNN_ERROR_NOT_FOUND; rnn_model_info starts with
 *     its size and gives the kernel set and threads; label indices are int32_t in rnn_model_label and
 *     rnn_explain; a size query (NULL, 0) succeeds; loading no longer sets OpenBLAS to one thread.
 *  2: streams (rnn_stream_*), explanations (rnn_explain) and RNN_ERROR_UNSUPPORTED.
 *  1: the first release.
 */
#ifndef RNNINFER_H
#define RNNINFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RNN_ABI_VERSION 3
#define RNN_MAX_TOKENS 65536

typedef enum rnn_status {
    RNN_OK = 0,
    RNN_ERROR_INVALID_ARGUMENT = 1, /* a NULL where none is allowed, a bad index, k out of range, an impossible count */
    RNN_ERROR_IO = 2,               /* the file cannot be opened or read */
    RNN_ERROR_FORMAT = 3,           /* not a model file, truncated, corrupt, checksum mismatch */
    RNN_ERROR_VERSION = 4,          /* a model format version, or a feature a model requires, this library does not
                                       read */
    RNN_ERROR_BUFFER_TOO_SMALL = 5, /* the caller's buffer is smaller than needed; see the out count */
    RNN_ERROR_UNSUPPORTED = 6,      /* the model or CPU cannot do what was asked (a stream of a padded model, a kernel
                                       set this CPU lacks); see the message */
    RNN_ERROR_NOT_FOUND = 7         /* the model file has no such metadata key */
} rnn_status;

typedef struct rnn_model rnn_model;

uint32_t rnn_abi_version(void);
const char *rnn_library_version(void);
/* The newest model file version this library reads, major.max_minor; it reads every older version too (a
 * minor version only adds what older readers may ignore; major 2 marks a file that lists in
 * `format.requires` the features a reader must know). Either pointer may be NULL. */
void rnn_supported_format(uint32_t *major, uint32_t *max_minor);
/* A short English name of a status ("ok", "invalid argument", …; "unknown status" for any other value).
 * Never NULL; the string is static. */
const char *rnn_status_string(rnn_status status);
/* The message of the calling thread's last failing call, or NULL before any. See the conventions above. */
const char *rnn_last_error(void);

/* How a model is loaded. Set `size` to sizeof(rnn_load_options): the library reads only the fields that fit
 * in it, so a program built against an older header keeps working with a newer library. */
typedef struct rnn_load_options {
    size_t size;
    /* "baseline", "avx2", "avx512" or "avx512-vnni"; NULL: $RNNKIT_KERNELS when set, else the widest this CPU
     * has. A name the library does not know is RNN_ERROR_INVALID_ARGUMENT; one this CPU lacks,
     * RNN_ERROR_UNSUPPORTED. */
    const char *kernels;
    /* The most threads one batch call (rnn_classify_batch, rnn_logits_batch) may use, the caller's included;
     * 0 or 1: the caller's thread alone. The results do not depend on it. */
    uint32_t threads;
} rnn_load_options;

/* path and model must not be NULL; on failure *model is NULL. The default options. */
rnn_status rnn_model_load(const char *path, rnn_model **model);
/* model must not be NULL; data may be NULL only when size is 0. The bytes are copied: the buffer may go
 * once the call returns, and may start at any address. */
rnn_status rnn_model_load_buffer(const void *data, size_t size, rnn_model **model);
/* As the two above, with options (NULL: the defaults); options->size must be at least sizeof(size_t). */
rnn_status rnn_model_load_with_options(const char *path, const rnn_load_options *options, rnn_model **model);
rnn_status rnn_model_load_buffer_with_options(const void *data, size_t size, const rnn_load_options *options,
                                              rnn_model **model);
void rnn_model_free(rnn_model *model); /* NULL is a no-op */

typedef struct rnn_model_info {
    size_t size;            /* set by the caller to sizeof(rnn_model_info); only fields that fit are written */
    uint32_t format_major, format_minor;
    uint32_t cell;          /* 0 rnn, 1 lstm, 2 gru */
    uint32_t layers;
    uint32_t bidirectional; /* 0 or 1 */
    uint32_t embedding, hidden;
    uint32_t vocabulary_size;
    uint32_t labels;
    uint32_t tokenizer;     /* 0 word-level, 1 WordPiece */
    uint32_t max_length;    /* 0 = unlimited */
    uint32_t threads;       /* rnn_load_options.threads as used (at least 1) */
    char kernels[16];       /* the kernel set the model runs, NUL-terminated */
    /* 1 for a multi-label model (train --loss ova): its probabilities are each label's own, independent
     * sigmoids that need not sum to 1, and its labels for a text are those with a probability of at least
     * `threshold` (chosen on validation), possibly none or several; `best` is still the most probable one.
     * 0 for a single-label model: probabilities are a softmax over the labels, and threshold is 0. */
    uint32_t multi_label;
    float threshold;
} rnn_model_info;

/* model and info must not be NULL; info->size must be at least sizeof(size_t). */
rnn_status rnn_model_get_info(const rnn_model *model, rnn_model_info *info);
/* 0 for a NULL model. */
size_t rnn_model_label_count(const rnn_model *model);
/* Copies label `index`'s name, NUL-terminated, into name[capacity]; *length gets its byte length (without
 * the NUL). model must not be NULL; name may be NULL only when capacity is 0 (a size query); length may be
 * NULL. */
rnn_status rnn_model_label(const rnn_model *model, int32_t index, char *name, size_t capacity, size_t *length);

/* What the model file says about itself: its metadata, by key (Artifacts/model-format.md), e.g.
 * "training.recipe", "training.config", "training.metrics", "training.tool", "sequence.padding",
 * "sequence.max_length", "sequence.truncation", "sequence.markers", "quantization.evaluation". The value is
 * written as UTF-8 text, NUL-terminated: strings as they are, integers in decimal, reals in the shortest form
 * that reads back the same, booleans as true/false, lists of strings as a JSON array. *length gets its byte
 * length without the NUL. model and key must not be NULL; value may be NULL only when capacity is 0 (a size
 * query); length may be NULL. A key the file does not have is RNN_ERROR_NOT_FOUND. */
rnn_status rnn_model_metadata(const rnn_model *model, const char *key, char *value, size_t capacity,
                              size_t *length);
/* The metadata keys, in file order: rnn_model_metadata_count of them, key `index` copied as rnn_model_label
 * copies a name. */
size_t rnn_model_metadata_count(const rnn_model *model); /* 0 for a NULL model */
rnn_status rnn_model_metadata_key(const rnn_model *model, size_t index, char *key, size_t capacity,
                                  size_t *length);

/* probabilities[capacity] receives one probability per label (capacity >= the label count: a softmax, or for a
 * multi-label model each label's own, see rnn_model_info.multi_label); *best the most
 * likely label. model and probabilities must not be NULL; text may be NULL only when length is 0;
 * best may be NULL. */
rnn_status rnn_classify(const rnn_model *model, const char *text, size_t length,
                        float *probabilities, size_t capacity, int32_t *best);
/* count texts; probabilities has count × labels entries (a row per text), best count entries. model and
 * probabilities must not be NULL; texts and lengths may be NULL only when count is 0; texts[i] may be NULL
 * only when lengths[i] is 0; best may be NULL. */
rnn_status rnn_classify_batch(const rnn_model *model, const char *const *texts, const size_t *lengths, size_t count,
                              float *probabilities, size_t capacity, int32_t *best);
/* As rnn_classify and rnn_classify_batch, giving the logits (the head's outputs before the softmax) instead of
 * probabilities. */
rnn_status rnn_logits(const rnn_model *model, const char *text, size_t length, float *logits, size_t capacity);
rnn_status rnn_logits_batch(const rnn_model *model, const char *const *texts, const size_t *lengths, size_t count,
                            float *logits, size_t capacity);
/* As rnn_classify, for the ids the model reads (what rnn_tokenize gives: markers, truncation and padding
 * already applied, as the ONNX export takes them); count of them, each in 0 … vocabulary_size − 1.
 * ids may be NULL only when count is 0. */
rnn_status rnn_classify_ids(const rnn_model *model, const int32_t *ids, size_t count, float *probabilities,
                            size_t capacity, int32_t *best);
/* The k most likely labels (1 <= k <= the label count), most likely first, into labels[k] and, unless it
 * is NULL, probabilities[k]. model and labels must not be NULL; text may be NULL only when length is 0. */
rnn_status rnn_top_k(const rnn_model *model, const char *text, size_t length, size_t k,
                     int32_t *labels, float *probabilities);
/* The ids the model reads for text (markers, truncation, padding applied). *count gets the number of ids.
 * model and count must not be NULL; ids may be NULL only when capacity is 0 (a size query); text may be NULL
 * only when length is 0. */
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

/* label is a label index (0 <= label < the label count). *count gets the number of tokens; it is never more
 * than length, so a capacity of length always suffices. model and count must not be NULL; tokens may be NULL
 * only when capacity is 0 (a size query); text may be NULL only when length is 0. */
rnn_status rnn_explain(const rnn_model *model, const char *text, size_t length, int32_t label,
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
