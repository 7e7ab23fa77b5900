/* Classify texts with an rnnkit model through librnninfer.
 *
 *   cc Examples/classify.c $(pkg-config --cflags --libs rnninfer) -Wl,-rpath,"$(pkg-config --variable=libdir rnninfer)" -o classify
 *   ./classify runs/imdb/model.rnnk "A wonderful film." "Dull and far too long."
 *   ./classify --tsv runs/imdb/model.rnnk < texts.txt     (one text per line)
 *
 * Prints the best label and every label's probability for each text; with
 * --tsv, one line per text: best index, then the probabilities.
 */
#include <rnninfer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int report(const char *what) {
    fprintf(stderr, "classify: %s: %s\n", what, rnn_last_error());
    return 1;
}

static int classify(const rnn_model *model, const char *text, size_t length, size_t labels, int tsv, char **names) {
    float *probabilities = malloc(labels * sizeof(float));
    int32_t best = -1;
    if (!probabilities) return 1;
    if (rnn_classify(model, text, length, probabilities, labels, &best) != RNN_OK) {
        free(probabilities);
        return report("rnn_classify");
    }
    if (tsv) {
        printf("%d", best);
        for (size_t i = 0; i < labels; i++) printf("\t%.9g", probabilities[i]);
        printf("\n");
    } else {
        printf("%s\t", names[best]);
        for (size_t i = 0; i < labels; i++) printf("%s%s %.4f", i ? ", " : "", names[i], probabilities[i]);
        printf("\t%.60s%s\n", text, length > 60 ? "…" : "");
    }
    free(probabilities);
    return 0;
}

int main(int argc, char **argv) {
    int tsv = argc > 1 && strcmp(argv[1], "--tsv") == 0;
    if (argc < 2 + tsv) {
        fprintf(stderr, "usage: classify [--tsv] MODEL [TEXT...]   (texts from standard input, one per line, when none are given)\n");
        return 2;
    }
    if (rnn_abi_version() != RNN_ABI_VERSION) {
        fprintf(stderr, "classify: built for librnninfer ABI %d, running with ABI %u\n", RNN_ABI_VERSION,
                rnn_abi_version());
        return 1;
    }
    rnn_model *model = NULL;
    if (rnn_model_load(argv[1 + tsv], &model) != RNN_OK) return report("rnn_model_load");
    size_t labels = rnn_model_label_count(model);
    char **names = calloc(labels, sizeof(char *));
    for (int32_t i = 0; i < (int32_t)labels; i++) {
        size_t length = 0;
        if (rnn_model_label(model, i, NULL, 0, &length) != RNN_OK) return report("rnn_model_label"); /* the size */
        names[i] = malloc(length + 1);
        if (rnn_model_label(model, i, names[i], length + 1, &length) != RNN_OK) return report("rnn_model_label");
    }
    int status = 0;
    if (argc > 2 + tsv) {
        for (int i = 2 + tsv; i < argc && status == 0; i++) status = classify(model, argv[i], strlen(argv[i]), labels, tsv, names);
    } else {
        char *line = NULL;
        size_t capacity = 0;
        ssize_t length;
        while (status == 0 && (length = getline(&line, &capacity, stdin)) >= 0) {
            if (length > 0 && line[length - 1] == '\n') length--;
            status = classify(model, line, (size_t)length, labels, tsv, names);
        }
        free(line);
    }
    for (size_t i = 0; i < labels; i++) free(names[i]);
    free(names);
    rnn_model_free(model);
    return status;
}
