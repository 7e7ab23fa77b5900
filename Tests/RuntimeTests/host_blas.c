/* A host that runs OpenBLAS with its own thread count loads a model: librnninfer must leave
 * the setting as the host made it (it links no BLAS of its own).
 *
 *   host_blas MODEL    prints "openblas threads: before B, after A" and exits 1 when they differ
 */
#include <rnninfer.h>
#include <stdio.h>

int openblas_get_num_threads(void);
void openblas_set_num_threads(int threads);

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: host_blas MODEL\n");
        return 2;
    }
    openblas_set_num_threads(2);
    int before = openblas_get_num_threads();
    rnn_model *model = NULL;
    if (rnn_model_load(argv[1], &model) != RNN_OK) {
        fprintf(stderr, "host_blas: %s\n", rnn_last_error());
        return 1;
    }
    float probabilities[16];
    if (rnn_classify(model, "good film", 9, probabilities, 16, NULL) != RNN_OK) {
        fprintf(stderr, "host_blas: %s\n", rnn_last_error());
        return 1;
    }
    int after = openblas_get_num_threads();
    rnn_model_free(model);
    printf("openblas threads: before %d, after %d\n", before, after);
    return before == after ? 0 : 1;
}
