// The few MPI calls the trainer makes. MPI's handles (MPI_COMM_WORLD,
// MPI_FLOAT, …) are implementation-defined macros Swift cannot import, so
// they stay on this side; every function returns MPI's status code.
#ifndef RNNKIT_MPI_SHIM_H
#define RNNKIT_MPI_SHIM_H

#include <mpi.h>
#include <stdint.h>

// Errors come back as codes (MPI_ERRORS_RETURN) so the trainer can name the
// call and the peer before ending the job, instead of MPI's default abort.
static inline int rnnkit_mpi_init(int *rank, int *size) {
    int provided = 0;
    int status = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (status != MPI_SUCCESS) return status;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    status = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (status != MPI_SUCCESS) return status;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

static inline int rnnkit_mpi_finalize(void) { return MPI_Finalize(); }

static inline void rnnkit_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static inline void rnnkit_mpi_error_string(int status, char *text, int capacity) {
    char message[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(status, message, &length) != MPI_SUCCESS) length = 0;
    if (capacity <= 0) return;
    if (length >= capacity) length = capacity - 1;
    for (int i = 0; i < length; i++) text[i] = message[i];
    text[length] = 0;
}

static inline int rnnkit_mpi_send(const void *bytes, int count, int peer, int tag) {
    return MPI_Send(bytes, count, MPI_BYTE, peer, tag, MPI_COMM_WORLD);
}

static inline int rnnkit_mpi_recv(void *bytes, int count, int peer, int tag) {
    return MPI_Recv(bytes, count, MPI_BYTE, peer, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

static inline int rnnkit_mpi_broadcast(void *bytes, int count, int root) {
    return MPI_Bcast(bytes, count, MPI_BYTE, root, MPI_COMM_WORLD);
}

// Every rank's `count` bytes, in rank order, into `all` (size × count bytes).
static inline int rnnkit_mpi_allgather(const void *bytes, int count, void *all) {
    return MPI_Allgather(bytes, count, MPI_BYTE, all, count, MPI_BYTE, MPI_COMM_WORLD);
}

// Every rank's bytes (counts[r] from rank r, placed at offsets[r]), in rank order.
static inline int rnnkit_mpi_allgatherv(
    const void *bytes, int count, void *all, const int *counts, const int *offsets) {
    return MPI_Allgatherv(bytes, count, MPI_BYTE, all, counts, offsets, MPI_BYTE, MPI_COMM_WORLD);
}

// Requests live in caller memory of rnnkit_mpi_request_size() bytes each
// (MPI_Request is a pointer in Open MPI, an int in MPICH).
static inline int rnnkit_mpi_request_size(void) { return (int)sizeof(MPI_Request); }

static inline int rnnkit_mpi_isend(const void *bytes, int count, int peer, int tag, void *request) {
    return MPI_Isend(bytes, count, MPI_BYTE, peer, tag, MPI_COMM_WORLD, (MPI_Request *)request);
}

static inline int rnnkit_mpi_irecv(void *bytes, int count, int peer, int tag, void *request) {
    return MPI_Irecv(bytes, count, MPI_BYTE, peer, tag, MPI_COMM_WORLD, (MPI_Request *)request);
}

static inline int rnnkit_mpi_wait(void *request) {
    return MPI_Wait((MPI_Request *)request, MPI_STATUS_IGNORE);
}

// *done = whether the request has completed (it is then freed).
static inline int rnnkit_mpi_test(void *request, int *done) {
    return MPI_Test((MPI_Request *)request, done, MPI_STATUS_IGNORE);
}

#endif
