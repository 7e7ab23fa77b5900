// What Swift cannot say about the hardware: which vector instruction sets the
// CPU and the OS both support (CPUID, XGETBV), a prefetch hint, and square roots
// the loop vectorizer can widen. Header-only: static inline, so each is inlined
// into, and compiled for the instruction set of, the Swift code that calls it.
#include <cpuid.h>

enum {
    RNNKIT_CPU_AVX2 = 1,    // x86-64-v3: AVX, AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT, and the OS saves ymm
    RNNKIT_CPU_AVX512 = 2,  // x86-64-v4: AVX-512 F, CD, BW, DQ, VL, and the OS saves zmm
};

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
    if ((ebx & (f | dq | cd | bw | vl)) == (f | dq | cd | bw | vl) && (xcr0_low & 0xE0) == 0xE0) features |= RNNKIT_CPU_AVX512;
    return features;
}

// Asks for the cache line holding `address` ahead of its use (read, keep in all levels).
static inline void rnnkit_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

// x[i] = √x[i]. Swift's Float.squareRoot() keeps a libm fallback for errno that
// stops LLVM from vectorizing it; the elementwise builtin has none.
static inline void rnnkit_square_roots(float *x, long count) {
    for (long i = 0; i < count; i++) x[i] = __builtin_elementwise_sqrt(x[i]);
}

// x limited to [low, high] lane by lane, NaN kept, at 4, 8 or 16 lanes: a
// compare and a blend on the bits. Swift's comparisons of a SIMD type reached
// through a generic parameter go lane by lane through scalar compares and
// branches; these are compiled at the caller's instruction set.
#define RNNKIT_CLAMP(lanes)                                                                         \
    typedef float rnnkit_float##lanes __attribute__((ext_vector_type(lanes)));                      \
    typedef int rnnkit_int##lanes __attribute__((ext_vector_type(lanes)));                          \
    static inline rnnkit_float##lanes rnnkit_clamp##lanes(rnnkit_float##lanes x, float low, float high) { \
        rnnkit_int##lanes below = x < low, above = x > high;                                        \
        rnnkit_int##lanes lowBits = (rnnkit_int##lanes)((rnnkit_float##lanes)low);                  \
        rnnkit_int##lanes highBits = (rnnkit_int##lanes)((rnnkit_float##lanes)high);                \
        rnnkit_int##lanes bits = (rnnkit_int##lanes)x;                                              \
        return (rnnkit_float##lanes)((bits & ~(below | above)) | (lowBits & below) | (highBits & above)); \
    }
RNNKIT_CLAMP(4)
RNNKIT_CLAMP(8)
RNNKIT_CLAMP(16)

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
