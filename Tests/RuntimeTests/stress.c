/* Thread-safety check for librnninfer: THREADS threads classify every text
 * ROUNDS times through one shared model (single texts, batches and, when the
 * model can stream, each thread's own stream fed in pieces); every probability
 * must equal, bit for bit, the single-threaded result.
 *
 *   stress MODEL THREADS ROUNDS < texts.txt      (one text per line)
 */
#include <pthread.h>
#include <rnninfer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rnn_model *model;
static char **texts;
static size_t *lengths;
static size_t count, labels;
static float *expected;
static int rounds;

static size_t stream_mismatches(rnn_stream *stream, size_t id, int round, float *probabilities) {
    size_t mismatches = 0;
    for (size_t i = 0; i < count; i++) {
        size_t piece = (i + id + (size_t)round) % 7 + 1, fed = 0;
        if (rnn_stream_reset(stream) != RNN_OK) return count;
        while (fed < lengths[i]) {
            size_t n = lengths[i] - fed < piece ? lengths[i] - fed : piece;
            if (rnn_stream_feed(stream, texts[i] + fed, n) != RNN_OK) return count;
            fed += n;
        }
        if (rnn_stream_probabilities(stream, probabilities, labels, NULL) != RNN_OK ||
            memcmp(probabilities, expected + i * labels, labels * sizeof(float)) != 0)
            mismatches++;
    }
    return mismatches;
}

static void *work(void *arg) {
    size_t id = (size_t)arg, mismatches = 0;
    float *probabilities = malloc(count * labels * sizeof(float));
    rnn_stream *stream = NULL;
    if (rnn_stream_open(model, &stream) != RNN_OK) stream = NULL; /* RNN_ERROR_UNSUPPORTED: not a streaming model */
    for (int round = 0; round < rounds; round++) {
        if (stream) mismatches += stream_mismatches(stream, id, round, probabilities);
        for (size_t k = 0; k < count; k++) {
            size_t i = (k + id * 7) % count; /* each thread in its own order */
            int32_t best;
            if (rnn_classify(model, texts[i], lengths[i], probabilities, labels, &best) != RNN_OK) { mismatches++; continue; }
            if (memcmp(probabilities, expected + i * labels, labels * sizeof(float)) != 0) mismatches++;
        }
        if (rnn_classify_batch(model, (const char *const *)texts, lengths, count, probabilities, count * labels, NULL) != RNN_OK) mismatches++;
        else if (memcmp(probabilities, expected, count * labels * sizeof(float)) != 0) mismatches++;
    }
    rnn_stream_free(stream);
    free(probabilities);
    return (void *)mismatches;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: stress MODEL THREADS ROUNDS < texts.txt\n"); return 2; }
    rnn_model *loaded;
    if (rnn_model_load(argv[1], &loaded) != RNN_OK) { fprintf(stderr, "stress: %s\n", rnn_last_error()); return 1; }
    model = loaded;
    int threads = atoi(argv[2]);
    rounds = atoi(argv[3]);
    labels = rnn_model_label_count(model);
    size_t capacity = 0;
    char *line = NULL;
    size_t line_capacity = 0;
    ssize_t length;
    while ((length = getline(&line, &line_capacity, stdin)) >= 0) {
        if (length > 0 && line[length - 1] == '\n') line[--length] = 0;
        if (count == capacity) {
            capacity = capacity ? 2 * capacity : 64;
            texts = realloc(texts, capacity * sizeof(char *));
            lengths = realloc(lengths, capacity * sizeof(size_t));
        }
        texts[count] = strdup(line);
        lengths[count++] = (size_t)length;
    }
    free(line);
    expected = malloc(count * labels * sizeof(float));
    for (size_t i = 0; i < count; i++) {
        int32_t best;
        if (rnn_classify(model, texts[i], lengths[i], expected + i * labels, labels, &best) != RNN_OK) {
            fprintf(stderr, "stress: %s\n", rnn_last_error());
            return 1;
        }
    }
    pthread_t *ids = malloc(threads * sizeof(pthread_t));
    for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, work, (void *)(size_t)t);
    size_t mismatches = 0;
    for (int t = 0; t < threads; t++) {
        void *result;
        pthread_join(ids[t], &result);
        mismatches += (size_t)result;
    }
    printf("%d threads x %d rounds x %zu texts: %zu mismatches\n", threads, rounds, count, mismatches);
    rnn_model_free(loaded);
    return mismatches == 0 ? 0 : 1;
}
