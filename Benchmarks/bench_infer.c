/* Inference benchmark for librnninfer (run by Tools/bench infer).
 *
 *   bench_infer MODEL THREADS < texts.txt      (one text per line)
 *
 * Prints: model load time; the mean number of ids the model reads per text
 * (the recurrent steps it runs); single-text latency (tokenization included) median
 * and p99 with texts/s on one thread; batch-256 texts/s on THREADS threads, each
 * classifying its own share; and peak RSS.
 */
#include <pthread.h>
#include <rnninfer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static rnn_model *model;
static char **texts;
static size_t *lengths;
static size_t count, labels;

typedef struct { size_t begin, end, batch; } share;

static void *batches(void *arg) {
    share *s = arg;
    float *probabilities = malloc(s->batch * labels * sizeof(float));
    for (size_t i = s->begin; i < s->end; i += s->batch) {
        size_t n = i + s->batch <= s->end ? s->batch : s->end - i;
        if (rnn_classify_batch(model, (const char *const *)texts + i, lengths + i, n, probabilities, n * labels, NULL) != RNN_OK) {
            fprintf(stderr, "bench_infer: %s\n", rnn_last_error());
            exit(1);
        }
    }
    free(probabilities);
    return NULL;
}

static double run_threads(int threads, size_t batch) {
    pthread_t ids[64];
    share shares[64];
    double start = now();
    for (int t = 0; t < threads; t++) {
        shares[t] = (share){count * t / threads, count * (t + 1) / threads, batch};
        pthread_create(&ids[t], NULL, batches, &shares[t]);
    }
    for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
    return count / (now() - start);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: bench_infer MODEL THREADS < texts.txt\n"); return 2; }
    int threads = atoi(argv[2]);
    size_t capacity = 0, line_capacity = 0;
    char *line = NULL;
    ssize_t length;
    while ((length = getline(&line, &line_capacity, stdin)) >= 0) {
        if (length > 0 && line[length - 1] == '\n') line[--length] = 0;
        if (count == capacity) {
            capacity = capacity ? 2 * capacity : 1024;
            texts = realloc(texts, capacity * sizeof(char *));
            lengths = realloc(lengths, capacity * sizeof(size_t));
        }
        texts[count] = strdup(line);
        lengths[count++] = (size_t)length;
    }
    double start = now();
    if (rnn_model_load(argv[1], &model) != RNN_OK) { fprintf(stderr, "bench_infer: %s\n", rnn_last_error()); return 1; }
    double load = now() - start;
    labels = rnn_model_label_count(model);
    size_t id_capacity = 1 << 20, steps = 0;
    int32_t *ids = malloc(id_capacity * sizeof(int32_t));
    for (size_t i = 0; i < count; i++) {
        size_t n = 0;
        if (rnn_tokenize(model, texts[i], lengths[i], ids, id_capacity, &n) != RNN_OK) { fprintf(stderr, "bench_infer: %s\n", rnn_last_error()); return 1; }
        steps += n;
    }
    free(ids);

    float *probabilities = malloc(labels * sizeof(float));
    int32_t best;
    size_t single = count < 2000 ? count : 2000;
    double *latency = malloc(single * sizeof(double));
    for (size_t i = 0; i < 50 && i < single; i++) rnn_classify(model, texts[i], lengths[i], probabilities, labels, &best); /* warm-up */
    double total = 0;
    for (size_t i = 0; i < single; i++) {
        double t = now();
        rnn_classify(model, texts[i], lengths[i], probabilities, labels, &best);
        latency[i] = now() - t;
        total += latency[i];
    }
    qsort(latency, single, sizeof(double), compare);
    printf("load %.1f ms\n", load * 1e3);
    printf("steps %.1f per text (mean over %zu texts)\n", (double)steps / count, count);
    printf("batch 1, 1 thread: median %.3f ms, p99 %.3f ms, %.0f texts/s (%zu texts)\n",
           latency[single / 2] * 1e3, latency[(size_t)(single * 0.99)] * 1e3, single / total, single);
    printf("batch 1, %d threads: %.0f texts/s\n", threads, run_threads(threads, 1));
    printf("batch 256, 1 thread: %.0f texts/s\n", run_threads(1, 256));
    printf("batch 256, %d threads: %.0f texts/s\n", threads, run_threads(threads, 256));
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("peak RSS %.1f MiB\n", usage.ru_maxrss / 1024.0);
    rnn_model_free(model);
    return 0;
}
