/* librnnkit from C: every bad argument gets a status and a message, never a crash; rows prepared, trained on,
 * scored and stopped through the C ABI alone. Usage: trainer SCRATCH_DIRECTORY (Tools/test builds and runs it). */
#include <rnnkit.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

static void expect(int condition, const char *what) {
    if (!condition) {
        fprintf(stderr, "FAIL: %s (last error: %s)\n", what, rnnkit_last_error());
        failures++;
    }
}

static void expect_status(rnnkit_status got, rnnkit_status wanted, const char *what, const char *message_part) {
    char line[512];
    snprintf(line, sizeof line, "%s: status %s, expected %s", what, rnnkit_status_string(got),
             rnnkit_status_string(wanted));
    expect(got == wanted, line);
    if (message_part && got != RNNKIT_OK) {
        snprintf(line, sizeof line, "%s: message names \"%s\"", what, message_part);
        expect(strstr(rnnkit_last_error(), message_part) != NULL, line);
    }
}

static char result_json[65536];
static void keep_result(void *context, const char *json) {
    (void)context;
    snprintf(result_json, sizeof result_json, "%s", json);
}

static int lines = 0;
static void count_line(void *context, const char *line) {
    (void)context;
    (void)line;
    lines++;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: trainer SCRATCH_DIRECTORY\n");
        return 2;
    }
    expect(rnnkit_abi_version() == RNNKIT_ABI_VERSION, "ABI version");
    expect(strcmp(rnnkit_status_string((rnnkit_status)99), "unknown status") == 0, "unknown status name");

    enum { N = 240 };
    const char *texts[N], *labels[N];
    static char storage[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(storage[i], sizeof storage[i], "%s the a of %s", i % 2 ? "goal match" : "bank stock",
                 i % 3 ? "and" : "it");
        texts[i] = storage[i];
        labels[i] = i % 2 ? "sport" : "money";
    }
    rnnkit_source source = {.split = "train", .texts = texts, .labels = labels, .count = N};
    char shards[1024], run[1024], model[1100];
    snprintf(shards, sizeof shards, "%s/shards", argv[1]);
    snprintf(run, sizeof run, "%s/run", argv[1]);
    snprintf(model, sizeof model, "%s/model.rnnk", run);
    const char *prep_arguments[] = {"--out", shards, "--vocab-size", "50"};

    /* Bad arguments: each refused by name. */
    expect_status(rnnkit_prepare(NULL, 0, NULL, 0, NULL), RNNKIT_ERROR_INVALID_ARGUMENT, "no sources", "sources");
    expect_status(rnnkit_prepare(&source, SIZE_MAX, prep_arguments, 4, NULL), RNNKIT_ERROR_INVALID_ARGUMENT,
                  "SIZE_MAX sources", "sources");
    expect_status(rnnkit_prepare(&source, 1, NULL, 3, NULL), RNNKIT_ERROR_INVALID_ARGUMENT, "NULL arguments",
                  "arguments is NULL");
    expect_status(rnnkit_prepare(&source, 1, prep_arguments, SIZE_MAX, NULL), RNNKIT_ERROR_INVALID_ARGUMENT,
                  "SIZE_MAX arguments", "argument_count");
    const char *with_null[] = {"--out", NULL};
    expect_status(rnnkit_prepare(&source, 1, with_null, 2, NULL), RNNKIT_ERROR_INVALID_ARGUMENT, "a NULL argument",
                  "argument 1 is NULL");
    const char *bad_flag[] = {"--vocab-size", "-3", "--out", shards};
    expect_status(rnnkit_prepare(&source, 1, bad_flag, 4, NULL), RNNKIT_ERROR_INVALID_ARGUMENT, "a bad flag value",
                  "vocab-size");
    rnnkit_source bad = source;
    bad.count = SIZE_MAX;
    expect_status(rnnkit_prepare(&bad, 1, prep_arguments, 4, NULL), RNNKIT_ERROR_INVALID_ARGUMENT, "SIZE_MAX rows",
                  "count");
    bad = source;
    bad.texts = NULL;
    expect_status(rnnkit_prepare(&bad, 1, prep_arguments, 4, NULL), RNNKIT_ERROR_INVALID_ARGUMENT, "NULL texts",
                  "texts and labels must not be NULL");
    bad = source;
    bad.split = "bogus";
    expect_status(rnnkit_prepare(&bad, 1, prep_arguments, 4, NULL), RNNKIT_ERROR_INVALID_ARGUMENT, "a bad split",
                  "split");
    bad = source;
    size_t lengths[N];
    for (int i = 0; i < N; i++) lengths[i] = strlen(texts[i]);
    lengths[7] = SIZE_MAX;
    bad.text_lengths = lengths;
    expect_status(rnnkit_prepare(&bad, 1, prep_arguments, 4, NULL), RNNKIT_ERROR_INVALID_ARGUMENT,
                  "a SIZE_MAX text length", "row 7");
    bad = source;
    bad.path = "/nonexistent/train.csv";
    bad.format = "csv";
    const char *column[] = {"text"};
    bad.text_columns = column;
    bad.text_column_count = 1;
    bad.label_column = "label";
    expect_status(rnnkit_prepare(&bad, 1, prep_arguments, 4, NULL), RNNKIT_ERROR_NOT_FOUND, "a missing file",
                  "/nonexistent/train.csv");
    const char *invalid_utf8[] = {"\xff\xfe broken"};
    const char *one_label[] = {"x"};
    rnnkit_source broken = {.split = "train", .texts = invalid_utf8, .labels = one_label, .count = 1};
    expect_status(rnnkit_prepare(&broken, 1, prep_arguments, 4, NULL), RNNKIT_ERROR_FORMAT, "invalid UTF-8",
                  "invalid UTF-8");

    /* The real thing: prepare, train, score; then a run stopped before its first batch. */
    rnnkit_callbacks callbacks = {.line = count_line, .result = keep_result};
    expect_status(rnnkit_prepare(&source, 1, prep_arguments, 4, &callbacks), RNNKIT_OK, "prepare", NULL);
    const char *train_arguments[] = {"--shards", shards, "--out", run, "--epochs", "3", "--hidden", "8",
                                     "--embed", "8", "--threads", "2", "--validation", "0.25"};
    expect_status(rnnkit_train(train_arguments, 14, &callbacks), RNNKIT_OK, "train", NULL);
    expect(lines >= 4, "train reports its lines");
    const char *bad_train[] = {"--shards", shards, "--hidden", "zero"};
    expect_status(rnnkit_train(bad_train, 4, NULL), RNNKIT_ERROR_INVALID_ARGUMENT, "a bad train flag", "hidden");
    expect_status(rnnkit_evaluate(model, shards, "train", 0, NULL), RNNKIT_ERROR_INVALID_ARGUMENT,
                  "evaluate without a result callback", "result");
    expect_status(rnnkit_evaluate(NULL, shards, "train", 0, &callbacks), RNNKIT_ERROR_INVALID_ARGUMENT,
                  "evaluate a NULL model", "NULL");
    expect_status(rnnkit_evaluate(model, shards, "train", SIZE_MAX, &callbacks), RNNKIT_ERROR_INVALID_ARGUMENT,
                  "SIZE_MAX threads", "threads");
    expect_status(rnnkit_evaluate(model, shards, "nosuchsplit", 0, &callbacks), RNNKIT_ERROR_NOT_FOUND,
                  "a missing split", "nosuchsplit");
    expect_status(rnnkit_evaluate(model, shards, "train", 2, &callbacks), RNNKIT_OK, "evaluate", NULL);
    expect(strstr(result_json, "\"accuracy\":") && strstr(result_json, "\"macro_f1\":") &&
               strstr(result_json, "\"confusion\":[["),
           "evaluate gives its figures as JSON");
    int32_t stop = 1;
    rnnkit_callbacks stopping = {.stop = &stop};
    char stopped[1100];
    snprintf(stopped, sizeof stopped, "%s/stopped", argv[1]);
    train_arguments[3] = stopped;
    expect_status(rnnkit_train(train_arguments, 14, &stopping), RNNKIT_ERROR_INTERRUPTED, "a stopped run",
                  "interrupted in epoch 1 before batch 1");
    const char *sweep_missing[] = {"/nonexistent/sweep.json"};
    expect_status(rnnkit_sweep(sweep_missing, 1, NULL), RNNKIT_ERROR_NOT_FOUND, "a missing sweep file",
                  "/nonexistent/sweep.json");
    if (failures) return 1;
    printf("librnnkit from C: all checks passed\n");
    return 0;
}
