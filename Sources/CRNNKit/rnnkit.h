/* librnnkit: rnnkit's prep and trainer for programs — the engine of the Python package `rnnkit`.
 *
 * librnninfer classifies and stays small for embedding; this library prepares datasets and trains, in the
 * calling process, exactly as the `prep` and `train` tools do: settings are those tools' flags, given as an
 * argument vector, so a program and a shell train the same model from the same rows.
 *
 *  - Every fallible call returns rnnkit_status; RNNKIT_OK is 0. rnnkit_last_error() gives the message of the
 *    calling thread's last failing call (the tools' one-line message: file, place, what was expected).
 *  - Any argument values get a status, never a crash: NULL pointers, counts larger than any buffer.
 *  - Callbacks run on the calling thread, between batches; they must not call back into this library.
 *  - Same inputs, settings, thread count and kernel set: same bytes, as with the tools.
 *  - RNNKIT_ABI_VERSION changes when a signature, a struct or a status's meaning changes; the SONAME carries it.
 */
#ifndef RNNKIT_H
#define RNNKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RNNKIT_ABI_VERSION 1

typedef enum rnnkit_status {
    RNNKIT_OK = 0,
    RNNKIT_ERROR_INVALID_ARGUMENT = 1, /* a bad argument, flag or setting (the tools' usage errors) */
    RNNKIT_ERROR_NOT_FOUND = 2,        /* a file, recipe or split that does not exist */
    RNNKIT_ERROR_FORMAT = 3,           /* input that is not what it should be: a row, a label, a file's bytes */
    RNNKIT_ERROR_INTERRUPTED = 4,      /* *stop became nonzero: training ended before a batch */
    RNNKIT_ERROR_IO = 5,               /* reading or writing failed (a full disk, a permission) */
} rnnkit_status;

/* RNNKIT_ABI_VERSION of the library loaded; a program built against another refuses to run with it. */
int32_t rnnkit_abi_version(void);
/* The rnnkit release ("0.2.0"); static storage. */
const char *rnnkit_version(void);
/* "ok", "invalid argument", …; static storage. */
const char *rnnkit_status_string(rnnkit_status status);
/* The calling thread's last error message (empty before any); valid until its next failing call. */
const char *rnnkit_last_error(void);

/* Progress and report lines from a long call, on the calling thread. Any member may be NULL. */
typedef struct rnnkit_callbacks {
    /* Each line the tool would print (configuration, one per epoch, the test figures). */
    void (*line)(void *context, const char *line);
    /* Progress of a stage ("epoch 2/5"): done of total, and a detail ("loss 0.41 · 900 samples/s"). */
    void (*progress)(void *context, const char *title, double done, double total, const char *detail);
    /* A call's result, as one JSON text (rnnkit_evaluate, rnnkit_sweep). */
    void (*result)(void *context, const char *json);
    void *context;
    /* Read before every training batch: nonzero stops the run with RNNKIT_ERROR_INTERRUPTED. The checkpoint
     * of the last finished epoch stays in the output directory, and `--resume` continues from it exactly. */
    const volatile int32_t *stop;
} rnnkit_callbacks;

/* One part of a dataset: rows in memory, or (path not NULL) a file read as `prep` reads it. */
typedef struct rnnkit_source {
    /* "train", "validation" or "test". */
    const char *split;
    /* Rows: UTF-8 texts and labels (labels as written; trimmed, and required, as in a CSV's label column).
     * A length is a byte count; a pointer may be NULL only with length 0. */
    const char *const *texts;
    const size_t *text_lengths;
    const char *const *labels;
    const size_t *label_lengths;
    size_t count;
    /* A file instead: "csv" (any delimiter, gzip or zstd), "parquet" or "jsonl". */
    const char *path;
    const char *format;
    /* Column names (csv, parquet) or dotted field paths (jsonl); several texts are joined with a space. */
    const char *const *text_columns;
    size_t text_column_count;
    const char *label_column;
    /* csv: one character, or "tab"; NULL: from the file's name (tab for .tsv), else a comma. */
    const char *delimiter;
} rnnkit_source;

/* Prepares `sources` into a dataset directory as `prep` does. `arguments` are prep's common flags
 * (--out DIR, --recipe NAME|PATH, --tokenizer, --vocab-size, --tokenizer-from MODEL, --force, --quiet, …)
 * and --name NAME (the dataset's name, default "python"); labels are numbered as `prep csv` numbers them. */
rnnkit_status rnnkit_prepare(const rnnkit_source *sources, size_t source_count, const char *const *arguments,
                             size_t argument_count, const rnnkit_callbacks *callbacks);

/* Trains as `train fit` does: `arguments` are its flags (--shards DIR --out DIR --hidden 128 --resume …).
 * Writes model.rnnk, checkpoint.rnnk, metrics.jsonl and learning-curve.svg to --out. */
rnnkit_status rnnkit_train(const char *const *arguments, size_t argument_count, const rnnkit_callbacks *callbacks);

/* Scores the model file `model` on `split` of the dataset directory `shards` (prepared with its tokenizer:
 * rnnkit_prepare with --tokenizer-from) using `threads` threads (0: all cores), and hands the figures to
 * callbacks->result (required) as one JSON object: {"loss", "accuracy", "macro_f1", "examples", "per_class":
 * [{"label", "precision", "recall", "f1", "support"}], "confusion": [[count of true t predicted as p]]}. */
rnnkit_status rnnkit_evaluate(const char *model, const char *shards, const char *split, size_t threads,
                              const rnnkit_callbacks *callbacks);

/* Runs a sweep as `train sweep` does (`arguments`: FILE [--out DIR] [--threads N] [--report-only]): its prep
 * steps in this process, each unfinished run, report.md and report.html. Hands callbacks->result (may be NULL)
 * one JSON array, a record per configuration in run order: {"configuration", "runs", "validation_accuracy",
 * "validation_macro_f1", "test_accuracy", "test_macro_f1", "best_epoch", "train_accuracy", "seconds_per_epoch"}
 * (means over its seeds; null where no run measured it) and "<figure>_deviation" for each (null below 2 seeds). */
rnnkit_status rnnkit_sweep(const char *const *arguments, size_t argument_count, const rnnkit_callbacks *callbacks);

#ifdef __cplusplus
}
#endif

#endif
