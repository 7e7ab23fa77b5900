// What Swift cannot say about the hardware: which vector instruction sets the
// CPU and the OS both support (CPUID and XGETBV on x86-64, the auxiliary vector
// on aarch64), a prefetch hint, and square roots the loop vectorizer can widen.
// Header-only: static inline, so each is inlined into, and compiled for the
// instruction set of, the Swift code that calls it.
#include <string.h>

enum {
    RNNKIT_CPU_AVX2 = 1,         // x86-64-v3: AVX, AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT, and the OS saves ymm
    RNNKIT_CPU_AVX512 = 2,       // x86-64-v4: AVX-512 F, CD, BW, DQ, VL, and the OS saves zmm
    RNNKIT_CPU_AVX512_VNNI = 4,  // AVX-512 VNNI (Ice Lake, Zen 4 and later): VPDPBUSD
    RNNKIT_CPU_NEON_DOT = 8,     // aarch64 with the ARMv8.2 dot product (Neoverse N1, Cortex-A55/A76 and later): SDOT
};

#if defined(__x86_64__)
#include <cpuid.h>

static inline unsigned rnnkit_cpu_features(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    const unsigned osxsave = 1u << 27, avx = 1u << 28, fma = 1u << 12, f16c = 1u << 29, movbe = 1u << 22, popcnt = 1u << 23;
    if ((ecx & (osxsave | avx | fma | f16c | movbe | popcnt)) != (osxsave | avx | fma | f16c | movbe | popcnt)) return 0;
    unsigned xcr0_low, xcr0_high;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    if ((xcr0_low & 0x6) != 0x6) return 0;  // SSE and AVX state
    unsigned ext_ecx = 0;
    if (__get_cpuid(0x80000001, &eax, &ebx, &ext_ecx, &edx) == 0 || !(ext_ecx & (1u << 5))) return 0;  // LZCNT
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return 0;
    const unsigned bmi1 = 1u << 3, avx2 = 1u << 5, bmi2 = 1u << 8;
    if ((ebx & (bmi1 | avx2 | bmi2)) != (bmi1 | avx2 | bmi2)) return 0;
    unsigned features = RNNKIT_CPU_AVX2;
    const unsigned f = 1u << 16, dq = 1u << 17, cd = 1u << 28, bw = 1u << 30, vl = 1u << 31;
    if ((ebx & (f | dq | cd | bw | vl)) == (f | dq | cd | bw | vl) && (xcr0_low & 0xE0) == 0xE0) {
        features |= RNNKIT_CPU_AVX512;
        if (ecx & (1u << 11)) features |= RNNKIT_CPU_AVX512_VNNI;
    }
    return features;
}

// AMD (or Hygon, its licensee): OpenBLAS's AVX2 kernels for these are "Zen", for Intel's "Haswell".
static inline int rnnkit_cpu_is_amd(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 0;
    return (ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163)     // "AuthenticAMD"
           || (ebx == 0x6f677948 && edx == 0x6e65476e && ecx == 0x656e6975);  // "HygonGenuine"
}

#elif defined(__aarch64__)
#include <sys/auxv.h>

// NEON (Advanced SIMD) with FMA is part of every ARMv8-A core; the dot product is optional before v8.4.
static inline unsigned rnnkit_cpu_features(void) {
    const unsigned long asimddp = 1ul << 20;  // HWCAP_ASIMDDP, <asm/hwcap.h>
    return (getauxval(AT_HWCAP) & asimddp) ? RNNKIT_CPU_NEON_DOT : 0;
}
#else
static inline unsigned rnnkit_cpu_features(void) { return 0; }
#endif

// Asks for the cache line holding `address` ahead of its use (read, keep in all levels).
static inline void rnnkit_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

// x limited to [low, high] lane by lane, NaN kept, at 4, 8 or 16 lanes. Swift's
// comparisons of a SIMD type reached through a generic parameter go lane by
// lane through scalar compares and branches; these are compiled at the
// caller's instruction set, where the selects become a MAXPS and a MINPS:
// each returns its second operand, x, when x is NaN.
#define RNNKIT_CLAMP(lanes)                                                                         \
    typedef float rnnkit_float##lanes __attribute__((ext_vector_type(lanes)));                      \
    static inline rnnkit_float##lanes rnnkit_clamp##lanes(rnnkit_float##lanes x, float low, float high) { \
        rnnkit_float##lanes lows = low, highs = high;                                               \
        x = lows > x ? lows : x;                                                                    \
        return highs < x ? highs : x;                                                               \
    }
RNNKIT_CLAMP(4)
RNNKIT_CLAMP(8)
RNNKIT_CLAMP(16)

// √x lane by lane, one SQRTPS at the caller's width. Swift's squareRoot() of a
// SIMD type goes lane by lane through libm, whose errno fallback keeps LLVM
// from widening it; the elementwise builtin has none.
static inline rnnkit_float4 rnnkit_sqrt4(rnnkit_float4 x) { return __builtin_elementwise_sqrt(x); }
static inline rnnkit_float8 rnnkit_sqrt8(rnnkit_float8 x) { return __builtin_elementwise_sqrt(x); }
static inline rnnkit_float16 rnnkit_sqrt16(rnnkit_float16 x) { return __builtin_elementwise_sqrt(x); }

#if defined(__x86_64__)
// e^x on 16 floats for the AVX-512 kernels (a module compiled for AVX-512
// calls it; elsewhere it is never emitted). The portable version in Swift
// rebuilds 2^n in the float's bits, which needs n clamped first; VSCALEFPS
// puts the exponent back in one instruction and saturates to 0 and infinity
// itself: the step kernels' forward rate rose by 7-10%. The min/max only
// keep ±infinity from becoming inf − inf in the range reduction.
#include <immintrin.h>
static inline rnnkit_float16 rnnkit_avx512_exp(rnnkit_float16 x) {
    // x second: VMAXPS/VMINPS return their second operand when one is NaN, so NaN stays NaN.
    __m512 v = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), (__m512)x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), v);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return (rnnkit_float16)_mm512_scalef_ps(p, n);
}
#endif

// The recurrent product of a quantized model's step: for ROWS rows, CHUNKS
// consecutive chunks of L hidden units and GATES gates,
//   out[((r·CHUNKS + c)·GATES + g)·L + u] = bias[(c·GATES + g)·L + u]
//       + scale[(c·GATES + g)·L + u] · Σ_k s_r[k]·w_c[k][g][u]
// where s_r is row r of the previous state rounded to integers in [-127, 127]
// (QuantizedStep) and w_c chunk c's int8 weights (panels follow each other).
// The sums are exact int32s, the same whichever instruction forms them:
//  - PMADDWD (SSE2, AVX2, AVX-512 BW): states in int16, k taken in GROUP = 2,
//    panel [k / 2][GATES][L][2], weights in int8 widened in registers (AVX2,
//    AVX-512) or in int16 (SSE2: see QuantizedPanelLayout);
//  - VPDPBUSD (AVX-512 VNNI): states plus 128 in uint8 (the instruction's
//    unsigned operand), k taken in GROUP = 4, panel [k / 4][GATES][L][4]; the
//    128·Σ_k w that the offset adds is `corrections`, taken off before the float;
//  - SDOT (aarch64 with the dot product): states in int8, k taken in GROUP = 4,
//    panel [k / 4][GATES][L][4] (signed by signed: no offset);
//  - SMLAL (any aarch64): states in int16, k one at a time (GROUP = 1), panel
//    [k][GATES][L] of int16 weights, each multiply-add by one state.
// One function per tile shape, so the accumulators stay in registers. A single
// row takes several chunks, whose independent sums hide the instructions'
// latency. The VNNI and SDOT copies are compiled for their extension alone
// (called only when the CPU reports it). BROADCAST takes the address of a
// row's GROUP states; LOAD_WEIGHTS and BROADCAST may give a narrower type than
// the accumulators' VECTOR (SMLAL widens as it multiplies).
#define RNNKIT_UNROLL _Pragma("clang loop unroll(full)")
#define RNNKIT_Q_FUNCTION(NAME, ATTRIBUTES, ROWS, CHUNKS, GATES, L, GROUP, STATE, WEIGHT, VECTOR, ZERO,             \
                          LOAD_WEIGHTS, BROADCAST, MADD, STORE)                                                  \
    static inline ATTRIBUTES void NAME(const void *states, long ldh, const void *panelBytes, long groups,        \
                                       const int *corrections, const float *bias, const float *scale,            \
                                       float *out) {                                                             \
        const STATE *h = (const STATE *)states;                                                                  \
        const WEIGHT *panel = (const WEIGHT *)panelBytes;                                                        \
        VECTOR acc[ROWS][CHUNKS][GATES];                                                                          \
        RNNKIT_UNROLL for (int r = 0; r < ROWS; r++)                                                              \
        RNNKIT_UNROLL for (int c = 0; c < CHUNKS; c++)                                                            \
        RNNKIT_UNROLL for (int g = 0; g < GATES; g++) acc[r][c][g] = ZERO;                                        \
        const long panelSize = groups * GATES * L * GROUP;                                                        \
        for (long p = 0; p < groups; p++) {                                                                       \
            __typeof__(BROADCAST(h)) x[ROWS];                                                                     \
            RNNKIT_UNROLL for (int r = 0; r < ROWS; r++) x[r] = BROADCAST(h + r * ldh + GROUP * p);               \
            RNNKIT_UNROLL for (int c = 0; c < CHUNKS; c++)                                                        \
            RNNKIT_UNROLL for (int g = 0; g < GATES; g++) {                                                       \
                __auto_type w = LOAD_WEIGHTS(panel + c * panelSize + (p * GATES + g) * GROUP * L);                \
                RNNKIT_UNROLL for (int r = 0; r < ROWS; r++) acc[r][c][g] = MADD(acc[r][c][g], x[r], w);          \
            }                                                                                                     \
        }                                                                                                         \
        (void)corrections;                                                                                        \
        RNNKIT_UNROLL for (int r = 0; r < ROWS; r++)                                                              \
        RNNKIT_UNROLL for (int c = 0; c < CHUNKS; c++)                                                            \
        RNNKIT_UNROLL for (int g = 0; g < GATES; g++) {                                                           \
            const long at = (c * GATES + g) * L;                                                                  \
            STORE(out + ((r * CHUNKS + c) * GATES + g) * L, acc[r][c][g], corrections + at, scale + at, bias + at); \
        }                                                                                                         \
    }
// Every tile shape of one instruction set — one row × one chunk (tile 0), one
// row × MANY_CHUNKS chunks (1), MANY_ROWS rows × one chunk (2) — for 1, 3 and 4
// gates (RNN, GRU, LSTM), and PREFIX(tile, gates, …) that picks one.
#define RNNKIT_Q_SHAPES(PREFIX, ATTRIBUTES, MANY_ROWS, MANY_CHUNKS, ...)                                       \
    RNNKIT_Q_FUNCTION(PREFIX##_one_g1, ATTRIBUTES, 1, 1, 1, __VA_ARGS__)                                    \
    RNNKIT_Q_FUNCTION(PREFIX##_one_g3, ATTRIBUTES, 1, 1, 3, __VA_ARGS__)                                    \
    RNNKIT_Q_FUNCTION(PREFIX##_one_g4, ATTRIBUTES, 1, 1, 4, __VA_ARGS__)                                    \
    RNNKIT_Q_FUNCTION(PREFIX##_chunks_g1, ATTRIBUTES, 1, MANY_CHUNKS, 1, __VA_ARGS__)                       \
    RNNKIT_Q_FUNCTION(PREFIX##_chunks_g3, ATTRIBUTES, 1, MANY_CHUNKS, 3, __VA_ARGS__)                       \
    RNNKIT_Q_FUNCTION(PREFIX##_chunks_g4, ATTRIBUTES, 1, MANY_CHUNKS, 4, __VA_ARGS__)                       \
    RNNKIT_Q_FUNCTION(PREFIX##_rows_g1, ATTRIBUTES, MANY_ROWS, 1, 1, __VA_ARGS__)                           \
    RNNKIT_Q_FUNCTION(PREFIX##_rows_g3, ATTRIBUTES, MANY_ROWS, 1, 3, __VA_ARGS__)                           \
    RNNKIT_Q_FUNCTION(PREFIX##_rows_g4, ATTRIBUTES, MANY_ROWS, 1, 4, __VA_ARGS__)                           \
    static inline void PREFIX(int tile, int gates, const void *states, long ldh, const void *panel,         \
                              long groups, const int *corrections, const float *bias, const float *scale,    \
                              float *out) {                                                                  \
        switch (tile * 8 + gates) {                                                                          \
        case 3: PREFIX##_one_g3(states, ldh, panel, groups, corrections, bias, scale, out); break;            \
        case 4: PREFIX##_one_g4(states, ldh, panel, groups, corrections, bias, scale, out); break;            \
        case 8 + 3: PREFIX##_chunks_g3(states, ldh, panel, groups, corrections, bias, scale, out); break;     \
        case 8 + 4: PREFIX##_chunks_g4(states, ldh, panel, groups, corrections, bias, scale, out); break;     \
        case 8 + 1: PREFIX##_chunks_g1(states, ldh, panel, groups, corrections, bias, scale, out); break;     \
        case 16 + 3: PREFIX##_rows_g3(states, ldh, panel, groups, corrections, bias, scale, out); break;      \
        case 16 + 4: PREFIX##_rows_g4(states, ldh, panel, groups, corrections, bias, scale, out); break;      \
        case 16 + 1: PREFIX##_rows_g1(states, ldh, panel, groups, corrections, bias, scale, out); break;      \
        default: PREFIX##_one_g1(states, ldh, panel, groups, corrections, bias, scale, out); break;           \
        }                                                                                                    \
    }

// The 4 bytes at `address` (a row's group of states), for a broadcast.
static inline int rnnkit_load32(const void *address) {
    int bytes;
    memcpy(&bytes, address, 4);
    return bytes;
}

#if defined(__x86_64__)
#define RNNKIT_Q_AVX512_BROADCAST(address) _mm512_set1_epi32(rnnkit_load32(address))
#define RNNKIT_Q_AVX512_LOAD(address) _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(address)))
#define RNNKIT_Q_AVX512_MADD(acc, x, w) _mm512_add_epi32(acc, _mm512_madd_epi16(x, w))
#define RNNKIT_Q_AVX512_STORE(out, acc, corrections, scale, bias) \
    _mm512_storeu_ps(out, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_loadu_ps(scale), _mm512_loadu_ps(bias)))
// 32 zmm registers: 4 rows or 4 chunks × up to 4 gates of accumulators.
RNNKIT_Q_SHAPES(rnnkit_avx512_qrecurrent, , 4, 4, 16, 2, short, signed char, __m512i, _mm512_setzero_si512(), RNNKIT_Q_AVX512_LOAD,
                RNNKIT_Q_AVX512_BROADCAST, RNNKIT_Q_AVX512_MADD, RNNKIT_Q_AVX512_STORE)
#define RNNKIT_Q_VNNI_LOAD(address) _mm512_loadu_si512((const void *)(address))
#define RNNKIT_Q_VNNI_MADD(acc, x, w) _mm512_dpbusd_epi32(acc, x, w)
#define RNNKIT_Q_VNNI_STORE(out, acc, corrections, scale, bias)                                                 \
    _mm512_storeu_ps(out, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_loadu_si512(corrections))), \
                                          _mm512_loadu_ps(scale), _mm512_loadu_ps(bias)))
RNNKIT_Q_SHAPES(rnnkit_avx512_vnni_qrecurrent, __attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)), 4, 4,
                16, 4, unsigned char, signed char, __m512i, _mm512_setzero_si512(), RNNKIT_Q_VNNI_LOAD,
                RNNKIT_Q_AVX512_BROADCAST, RNNKIT_Q_VNNI_MADD, RNNKIT_Q_VNNI_STORE)

#define RNNKIT_Q_AVX2_BROADCAST(address) _mm256_set1_epi32(rnnkit_load32(address))
#define RNNKIT_Q_AVX2_LOAD(address) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(address)))
#define RNNKIT_Q_AVX2_MADD(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))
#define RNNKIT_Q_AVX2_STORE(out, acc, corrections, scale, bias) \
    _mm256_storeu_ps(out, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps(scale), _mm256_loadu_ps(bias)))
// 16 ymm registers: 2 rows or 2 chunks × up to 4 gates of accumulators.
RNNKIT_Q_SHAPES(rnnkit_avx2_qrecurrent, , 2, 2, 8, 2, short, signed char, __m256i, _mm256_setzero_si256(), RNNKIT_Q_AVX2_LOAD,
                RNNKIT_Q_AVX2_BROADCAST, RNNKIT_Q_AVX2_MADD, RNNKIT_Q_AVX2_STORE)

// Baseline x86-64: SSE2's PMADDWD, and no FMA.
#include <emmintrin.h>
#define RNNKIT_Q_SSE2_BROADCAST(address) _mm_set1_epi32(rnnkit_load32(address))
#define RNNKIT_Q_SSE2_LOAD(address) _mm_loadu_si128((const __m128i *)(address))
#define RNNKIT_Q_SSE2_MADD(acc, x, w) _mm_add_epi32(acc, _mm_madd_epi16(x, w))
#define RNNKIT_Q_SSE2_STORE(out, acc, corrections, scale, bias) \
    _mm_storeu_ps(out, _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(acc), _mm_loadu_ps(scale)), _mm_loadu_ps(bias)))
RNNKIT_Q_SHAPES(rnnkit_sse2_qrecurrent, , 2, 2, 4, 2, short, short, __m128i, _mm_setzero_si128(), RNNKIT_Q_SSE2_LOAD,
                RNNKIT_Q_SSE2_BROADCAST, RNNKIT_Q_SSE2_MADD, RNNKIT_Q_SSE2_STORE)
#endif

#if defined(__aarch64__)
#include <arm_neon.h>
// 32 q registers: 4 rows or 4 chunks × up to 4 gates of accumulators, as on AVX-512, at 4 lanes.
#define RNNKIT_Q_NEON_STORE(out, acc, corrections, scale, bias) \
    vst1q_f32(out, vfmaq_f32(vld1q_f32(bias), vcvtq_f32_s32(acc), vld1q_f32(scale)))
#define RNNKIT_Q_SDOT_BROADCAST(address) vreinterpretq_s8_s32(vdupq_n_s32(rnnkit_load32(address)))
RNNKIT_Q_SHAPES(rnnkit_neon_dot_qrecurrent, __attribute__((target("dotprod"), noinline)), 4, 4, 4, 4, signed char,
                signed char, int32x4_t, vdupq_n_s32(0), vld1q_s8, RNNKIT_Q_SDOT_BROADCAST, vdotq_s32,
                RNNKIT_Q_NEON_STORE)
#define RNNKIT_Q_SMLAL_BROADCAST(address) vld1_dup_s16(address)
RNNKIT_Q_SHAPES(rnnkit_neon_qrecurrent, , 4, 4, 4, 1, short, short, int32x4_t, vdupq_n_s32(0), vld1_s16,
                RNNKIT_Q_SMLAL_BROADCAST, vmlal_s16, RNNKIT_Q_NEON_STORE)
// The baseline's: the sums scaled with a multiply and an add, as SSE2 does, so that the portable kernels give
// the same bits on both architectures.
#define RNNKIT_Q_NEON_UNFUSED_STORE(out, acc, corrections, scale, bias) \
    vst1q_f32(out, vaddq_f32(vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(scale)), vld1q_f32(bias)))
RNNKIT_Q_SHAPES(rnnkit_neon_unfused_qrecurrent, , 4, 4, 4, 1, short, short, int32x4_t, vdupq_n_s32(0), vld1_s16,
                RNNKIT_Q_SMLAL_BROADCAST, vmlal_s16, RNNKIT_Q_NEON_UNFUSED_STORE)
#endif

// The state for the integer product: x[i]·127 rounded (halves away from
// zero) and saturated to [-127, 127] (NaN too), as int16, as int8 (SDOT), or
// plus 128 as uint8 (VPDPBUSD's unsigned operand). Plain C, vectorized for the caller's instruction set.
static inline int rnnkit_state_level(float x) {
    float v = __builtin_fminf(127.0f, __builtin_fmaxf(-127.0f, x * 127.0f));
    return (int)(v + (v >= 0 ? 0.5f : -0.5f));
}
static inline void rnnkit_round_int16(const float *x, long count, short *out) {
    for (long i = 0; i < count; i++) out[i] = (short)rnnkit_state_level(x[i]);
}
static inline void rnnkit_round_uint8(const float *x, long count, unsigned char *out) {
    for (long i = 0; i < count; i++) out[i] = (unsigned char)(rnnkit_state_level(x[i]) + 128);
}
static inline void rnnkit_round_int8(const float *x, long count, signed char *out) {
    for (long i = 0; i < count; i++) out[i] = (signed char)rnnkit_state_level(x[i]);
}
