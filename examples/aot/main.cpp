// Calls the kernels of kernels.py, compiled ahead of time, on random data
// and checks each against a double-precision reference; then times
// launches from C++. Exit status 0 when every check passes.
//
// Built for the host CPU (the default), the buffers are host memory. Built
// for a GPU target (CMake: -DTESSERA_AOT_TARGET=sm_90a, gfx942, ...), they
// are device memory from the CUDA driver or the HIP runtime, opened with
// dlopen like the generated library does: no CUDA or ROCm headers needed.
#include "kernels.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <functional>
#include <random>
#include <vector>

namespace {

int failures = 0;

void report(const char *what, tessera_status status, double error, double tolerance) {
  bool ok = status == TESSERA_OK && error <= tolerance;
  std::printf("%-34s status %d  max error %.2e  %s\n", what, int(status), error,
              ok ? "ok" : "FAILED");
  failures += !ok;
}

/// Where the kernels' buffers live: host memory, or the GPU's.
struct Memory {
#if defined(TESSERA_AOT_CUDA)
  int (*init)(unsigned) = nullptr;
  int (*retain)(void **, int) = nullptr;
  int (*setCurrent)(void *) = nullptr;
  int (*alloc)(uint64_t *, size_t) = nullptr;
  int (*free)(uint64_t) = nullptr;
  int (*toDevice)(uint64_t, const void *, size_t) = nullptr;
  int (*toHost)(void *, uint64_t, size_t) = nullptr;
  int (*synchronize)() = nullptr;
  int (*loadModule)(void **, const void *) = nullptr;
  int (*getFunction)(void **, void *, const char *) = nullptr;
  int (*launch)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                void *, void **, void **) = nullptr;
  const char *name = "CUDA";
  bool open() {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW);
    if (!lib)
      return false;
    *(void **)&loadModule = dlsym(lib, "cuModuleLoadData");
    *(void **)&getFunction = dlsym(lib, "cuModuleGetFunction");
    *(void **)&launch = dlsym(lib, "cuLaunchKernel");
    *(void **)&init = dlsym(lib, "cuInit");
    *(void **)&retain = dlsym(lib, "cuDevicePrimaryCtxRetain");
    *(void **)&setCurrent = dlsym(lib, "cuCtxSetCurrent");
    *(void **)&alloc = dlsym(lib, "cuMemAlloc_v2");
    *(void **)&free = dlsym(lib, "cuMemFree_v2");
    *(void **)&toDevice = dlsym(lib, "cuMemcpyHtoD_v2");
    *(void **)&toHost = dlsym(lib, "cuMemcpyDtoH_v2");
    *(void **)&synchronize = dlsym(lib, "cuCtxSynchronize");
    void *context = nullptr;
    return init && init(0) == 0 && retain(&context, 0) == 0 && setCurrent(context) == 0;
  }
  void *allocate(size_t bytes) {
    uint64_t p = 0;
    return alloc(&p, bytes) == 0 ? reinterpret_cast<void *>(p) : nullptr;
  }
  void release(void *p) { free(reinterpret_cast<uint64_t>(p)); }
  void upload(void *dst, const void *src, size_t n) { toDevice(reinterpret_cast<uint64_t>(dst), src, n); }
  void download(void *dst, const void *src, size_t n) { toHost(dst, reinterpret_cast<uint64_t>(src), n); }
  void sync() { synchronize(); }
  /// The driver's own floor, for comparison: a kernel that does nothing
  /// but takes the vector add's parameters (three pointers and an int; PTX,
  /// JIT-compiled by the driver), launched with cuLaunchKernel alone.
  std::function<void()> emptyLaunch(void *x, void *y, void *out, int n) {
    static const char ptx[] =
        ".version 7.0\n.target sm_50\n.address_size 64\n"
        ".visible .entry tessera_empty(.param .u64 x, .param .u64 y, .param .u64 o, "
        ".param .u32 n) { ret; }\n";
    void *module = nullptr, *function = nullptr;
    if (!loadModule || loadModule(&module, ptx) != 0 ||
        getFunction(&function, module, "tessera_empty") != 0)
      return nullptr;
    auto launchFn = launch;
    return [launchFn, function, x, y, out, n]() mutable {
      void *args[] = {&x, &y, &out, &n};
      launchFn(function, 1, 1, 1, 128, 1, 1, 0, nullptr, args, nullptr);
    };
  }
#elif defined(TESSERA_AOT_HIP)
  int (*alloc)(void **, size_t) = nullptr;
  int (*free)(void *) = nullptr;
  int (*copy)(void *, const void *, size_t, int) = nullptr;
  int (*synchronize)() = nullptr;
  const char *name = "HIP";
  bool open() {
    void *lib = nullptr;
    for (const char *name : {"libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so",
                             "/opt/rocm/lib/libamdhip64.so"})
      if (!lib)
        lib = dlopen(name, RTLD_NOW);
    if (!lib)
      return false;
    int (*count)(int *) = nullptr;
    *(void **)&count = dlsym(lib, "hipGetDeviceCount");
    *(void **)&alloc = dlsym(lib, "hipMalloc");
    *(void **)&free = dlsym(lib, "hipFree");
    *(void **)&copy = dlsym(lib, "hipMemcpy");
    *(void **)&synchronize = dlsym(lib, "hipDeviceSynchronize");
    int devices = 0;
    return count && alloc && free && copy && synchronize && count(&devices) == 0 && devices > 0;
  }
  void *allocate(size_t bytes) {
    void *p = nullptr;
    return alloc(&p, bytes) == 0 ? p : nullptr;
  }
  void release(void *p) { free(p); }
  void upload(void *dst, const void *src, size_t n) { copy(dst, src, n, 1); }   // host to device
  void download(void *dst, const void *src, size_t n) { copy(dst, src, n, 2); } // device to host
  void sync() { synchronize(); }
  std::function<void()> emptyLaunch(void *, void *, void *, int) { return nullptr; }
#else
  const char *name = "host";
  bool open() { return true; }
  void *allocate(size_t bytes) { return std::aligned_alloc(64, (bytes + 63) / 64 * 64); }
  void release(void *p) { std::free(p); }
  void upload(void *dst, const void *src, size_t n) { std::memcpy(dst, src, n); }
  void download(void *dst, const void *src, size_t n) { std::memcpy(dst, src, n); }
  void sync() {}
  std::function<void()> emptyLaunch(void *, void *, void *, int) { return nullptr; }
#endif
};

Memory memory;

/// A host array and its copy where the kernels run.
template <typename T> struct Buffer {
  std::vector<T> host;
  T *device;
  explicit Buffer(size_t n) : host(n), device(static_cast<T *>(memory.allocate(n * sizeof(T)))) {}
  ~Buffer() { memory.release(device); }
  void upload() { memory.upload(device, host.data(), host.size() * sizeof(T)); }
  void download() {
    memory.sync();
    memory.download(host.data(), device, host.size() * sizeof(T));
  }
};

uint16_t toHalf(float f) {
  _Float16 h = static_cast<_Float16>(f);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}
float fromHalf(uint16_t bits) {
  _Float16 h;
  std::memcpy(&h, &bits, 2);
  return float(h);
}

} // namespace

int main() {
  if (!memory.open()) {
    std::printf("built for %s, but no %s device can be used here: nothing to run\n", memory.name,
                memory.name);
    return 2;
  }
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal;

  { // Vector add: the aligned specialization, then the general one.
    const int n = 100000;
    Buffer<float> x(n + 1), y(n + 1), out(n + 1);
    for (int i = 0; i <= n; ++i)
      x.host[i] = normal(rng), y.host[i] = normal(rng);
    x.upload(), y.upload();
    double error = 0;
    tessera_status s = kernels_vector_add(nullptr, (n + 1023) / 1024, 1, 1, x.device, y.device,
                                          out.device, n);
    out.download();
    for (int i = 0; i < n; ++i)
      error = std::max(error, std::abs(out.host[i] - (double(x.host[i]) + y.host[i])));
    report("vector add, aligned", s, error, 1e-6);
    error = 0; // x + 1 is 4-byte aligned only: the general specialization
    s = kernels_vector_add(nullptr, (n - 1 + 1023) / 1024, 1, 1, x.device + 1, y.device,
                           out.device, n - 1);
    out.download();
    for (int i = 0; i < n - 1; ++i)
      error = std::max(error, std::abs(out.host[i] - (double(x.host[i + 1]) + y.host[i])));
    report("vector add, unaligned", s, error, 1e-6);
  }

  { // Softmax of 200 rows of 781, 16-byte aligned rows (stride 784).
    const int rows = 200, cols = 781, stride = 784;
    Buffer<float> in(rows * stride), out(rows * stride);
    for (auto &v : in.host)
      v = 3 * normal(rng);
    in.upload();
    tessera_status s =
        kernels_softmax(nullptr, 16, 1, 1, out.device, in.device, stride, stride, rows, cols);
    out.download();
    double error = 0;
    for (int r = 0; r < rows; ++r) {
      const float *row = &in.host[r * stride];
      double m = -INFINITY, sum = 0;
      for (int c = 0; c < cols; ++c)
        m = std::max(m, double(row[c]));
      for (int c = 0; c < cols; ++c)
        sum += std::exp(row[c] - m);
      for (int c = 0; c < cols; ++c)
        error = std::max(error, std::abs(out.host[r * stride + c] - std::exp(row[c] - m) / sum));
    }
    report("softmax", s, error, 1e-6);
    // A row stride that is not a multiple of 16: no specialization fits.
    s = kernels_softmax(nullptr, 16, 1, 1, out.device, in.device, 781, 781, rows, cols);
    std::printf("%-34s status %d (TESSERA_NO_SPECIALIZATION = %d)  %s\n", "softmax, stride 781",
                int(s), int(TESSERA_NO_SPECIALIZATION),
                s == TESSERA_NO_SPECIALIZATION ? "ok" : "FAILED");
    failures += s != TESSERA_NO_SPECIALIZATION;
  }

  { // GEMM, fp16 in and out: 100 x 70 x 130.
    const int M = 100, N = 70, K = 130;
    Buffer<uint16_t> a(M * K), b(K * N), c(M * N);
    for (auto &v : a.host)
      v = toHalf(normal(rng));
    for (auto &v : b.host)
      v = toHalf(normal(rng));
    a.upload(), b.upload();
    unsigned programs = unsigned((M + 31) / 32 * ((N + 31) / 32));
    tessera_status s = kernels_matmul(nullptr, programs, 1, 1, a.device, b.device, c.device, M,
                                      N, K, K, 1, N, 1, N, 1);
    c.download();
    double error = 0, scale = 0;
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double ref = 0;
        for (int k = 0; k < K; ++k)
          ref += double(fromHalf(a.host[i * K + k])) * fromHalf(b.host[k * N + j]);
        error = std::max(error, std::abs(fromHalf(c.host[i * N + j]) - ref));
        scale = std::max(scale, std::abs(ref));
      }
    report("matmul fp16 (relative)", s, error / scale, 2e-3);
  }

  for (bool causal : {false, true}) { // Attention: Z=1, H=2, N=100, D=64, fp32.
    const int Z = 1, H = 2, N = 100, D = 64;
    Buffer<float> q(Z * H * N * D), k(q.host.size()), v(q.host.size()), o(q.host.size());
    for (auto *t : {&q, &k, &v}) {
      for (auto &x : t->host)
        x = normal(rng);
      t->upload();
    }
    float scale = 1.0f / std::sqrt(float(D));
    int sz = H * N * D, sh = N * D, sm = D;
    auto fn = causal ? kernels_causal_attention : kernels_attention;
    tessera_status s = fn(nullptr, (N + 31) / 32, Z * H, 1, q.device, k.device, v.device, scale,
                          o.device, sz, sh, sm, 1, sz, sh, sm, 1, sz, sh, sm, 1, sz, sh, sm, 1, H, N);
    o.download();
    double error = 0;
    for (int h = 0; h < Z * H; ++h)
      for (int i = 0; i < N; ++i) {
        std::vector<double> p(N);
        double m = -INFINITY, sum = 0;
        for (int j = 0; j < N; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += double(q.host[h * sh + i * D + d]) * k.host[h * sh + j * D + d];
          p[j] = causal && j > i ? -INFINITY : dot * scale;
          m = std::max(m, p[j]);
        }
        for (int j = 0; j < N; ++j)
          sum += p[j] = std::exp(p[j] - m);
        for (int d = 0; d < D; ++d) {
          double ref = 0;
          for (int j = 0; j < N; ++j)
            ref += p[j] / sum * v.host[h * sh + j * D + d];
          error = std::max(error, std::abs(o.host[h * sh + i * D + d] - ref));
        }
      }
    // TF32 dots on GPUs with fp32 operands: a looser bound there.
    report(causal ? "attention, causal" : "attention", s, error,
           std::strcmp(memory.name, "host") ? 5e-3 : 1e-4);
  }

  { // Launch cost from C++, with a one-program vector add.
    // Issue: the time the calling thread spends in a launch, from batches of
    // 64 launches after a synchronize (well inside the driver's queue, so
    // the GPU never holds the caller back); the median of 200 batches.
    // Completed: 20000 launches back to back, until the last has finished.
    Buffer<float> x(1024), y(1024), out(1024);
    auto ours = [&] { kernels_vector_add(nullptr, 1, 1, 1, x.device, y.device, out.device, 1024); };
    auto issue = [&](const std::function<void()> &launch) {
      std::vector<double> batches;
      for (int b = 0; b < 200; ++b) {
        memory.sync();
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < 64; ++i)
          launch();
        auto end = std::chrono::steady_clock::now();
        batches.push_back(std::chrono::duration<double, std::micro>(end - start).count() / 64);
      }
      std::sort(batches.begin(), batches.end());
      return batches[batches.size() / 2];
    };
    auto completed = [&](const std::function<void()> &launch) {
      const int launches = 20000;
      memory.sync();
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < launches; ++i)
        launch();
      memory.sync();
      return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                 .count() / launches;
    };
    for (int i = 0; i < 100; ++i)
      ours();
    std::printf("launch (%s), us per launch: %.2f issue, %.2f completed\n", memory.name,
                issue(ours), completed(ours));
    if (auto empty = memory.emptyLaunch(x.device, y.device, out.device, 1024))
      std::printf("the driver alone (cuLaunchKernel of an empty kernel with the same "
                  "parameters), us per launch: %.2f issue, %.2f completed\n", issue(empty),
                  completed(empty));
  }

  std::printf("%s\n", failures ? "SOME CHECKS FAILED" : "all checks passed");
  return failures ? 1 : 0;
}
