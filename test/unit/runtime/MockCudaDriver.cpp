//===- MockCudaDriver.cpp - A fake libcuda for the runtime's tests --------===//
//
// Exports the driver functions the runtime resolves, backed by host memory
// and a log of calls, plus mock_* control functions the tests reach with
// dlsym. "Images" are text: a module defines every `.entry NAME` it
// contains; an image containing "BAD" fails to load with a JIT log.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {
using CUresult = int;

struct Launch {
  std::string function;
  unsigned grid[3], block[3], shared;
  void *stream;
  std::vector<void *> params;
};

struct State {
  int contextToken = 0;
  void *current = nullptr;
  int modulesLoaded = 0;
  std::map<void *, std::set<std::string>> moduleEntries;
  std::map<void *, std::string> functionNames;
  std::map<std::string, int> maxDynamicShared;
  std::vector<Launch> launches;
  std::map<std::string, CUresult> failNext;
  std::map<uintptr_t, size_t> allocations;
  std::vector<std::string> calls;
  int maxSharedOptin = 232448;
  // A fake clock: each launch takes 0.5 ms and each memset 0.25 ms.
  double clock = 0;
  std::map<void *, double> events;
  std::vector<size_t> memsets;
};

State &state() {
  static State s;
  return s;
}

bool failing(const char *fn, CUresult &result) {
  auto &fail = state().failNext;
  state().calls.push_back(fn);
  auto it = fail.find(fn);
  if (it == fail.end())
    return false;
  result = it->second;
  fail.erase(it);
  return true;
}

#define MOCK_ENTER(fn)                                                         \
  do {                                                                         \
    CUresult injected;                                                         \
    if (failing(fn, injected))                                                 \
      return injected;                                                         \
  } while (0)
} // namespace

extern "C" {

// -- control ---------------------------------------------------------------
void mock_cuda_fail_next(const char *fn, int code) { state().failNext[fn] = code; }
int mock_cuda_modules_loaded() { return state().modulesLoaded; }
int mock_cuda_launch_count() { return int(state().launches.size()); }
void mock_cuda_last_launch(unsigned *grid, unsigned *block, unsigned *shared,
                           void **stream, int *numParams) {
  const Launch &l = state().launches.back();
  for (int i = 0; i < 3; ++i) {
    grid[i] = l.grid[i];
    block[i] = l.block[i];
  }
  *shared = l.shared;
  *stream = l.stream;
  *numParams = int(l.params.size());
}
const char *mock_cuda_last_function() {
  return state().launches.back().function.c_str();
}
int mock_cuda_max_dynamic_shared(const char *function) {
  return state().maxDynamicShared[function];
}
int mock_cuda_memset_bytes(int i) { return int(state().memsets.at(i) >> 20); }
int mock_cuda_count_calls(const char *fn) {
  int n = 0;
  for (auto &c : state().calls)
    n += c == fn;
  return n;
}

// -- the driver API -----------------------------------------------------------
CUresult cuInit(unsigned) {
  MOCK_ENTER("cuInit");
  return 0;
}
CUresult cuDriverGetVersion(int *v) {
  *v = 13000;
  return 0;
}
CUresult cuGetErrorName(CUresult e, const char **name) {
  switch (e) {
  case 1: *name = "CUDA_ERROR_INVALID_VALUE"; return 0;
  case 200: *name = "CUDA_ERROR_INVALID_IMAGE"; return 0;
  case 500: *name = "CUDA_ERROR_NOT_FOUND"; return 0;
  case 701: *name = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; return 0;
  default: *name = nullptr; return 1;
  }
}
CUresult cuGetErrorString(CUresult e, const char **text) {
  switch (e) {
  case 1: *text = "invalid argument"; return 0;
  case 200: *text = "device kernel image is invalid"; return 0;
  case 500: *text = "named symbol not found"; return 0;
  case 701: *text = "too many resources requested for launch"; return 0;
  default: *text = nullptr; return 1;
  }
}
CUresult cuDeviceGetCount(int *count) {
  MOCK_ENTER("cuDeviceGetCount");
  *count = 1;
  return 0;
}
CUresult cuDeviceGet(int *device, int ordinal) {
  *device = ordinal;
  return ordinal == 0 ? 0 : 101;
}
CUresult cuDeviceGetName(char *name, int length, int) {
  std::strncpy(name, "Mock H200", size_t(length));
  return 0;
}
CUresult cuDeviceGetAttribute(int *value, int attribute, int) {
  switch (attribute) {
  case 1: *value = 1024; break;            // max threads per block
  case 5: *value = 2147483647; break;      // max grid x
  case 6: case 7: *value = 65535; break;   // max grid y, z
  case 8: *value = 49152; break;           // shared per block
  case 16: *value = 132; break;            // SMs
  case 75: *value = 9; break;              // compute capability
  case 76: *value = 0; break;
  case 97: *value = state().maxSharedOptin; break;
  default: *value = 0;
  }
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int) {
  *ctx = &state().contextToken;
  return 0;
}
CUresult cuCtxGetCurrent(void **ctx) {
  *ctx = state().current;
  return 0;
}
CUresult cuCtxSetCurrent(void *ctx) {
  state().current = ctx;
  return 0;
}
CUresult cuCtxGetDevice(int *device) {
  *device = 0;
  return 0;
}
CUresult cuCtxSynchronize() { return 0; }
CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned n,
                            int *options, void **values) {
  MOCK_ENTER("cuModuleLoadDataEx");
  std::string text(static_cast<const char *>(image));
  if (text.find("BAD") != std::string::npos) {
    for (unsigned i = 0; i < n; ++i)
      if (options[i] == 5)
        std::strcpy(static_cast<char *>(values[i]),
                    "ptxas application ptx input, line 3; error: mock failure");
    return 200;
  }
  void *handle = std::malloc(1);
  std::set<std::string> entries;
  for (size_t at = text.find(".entry "); at != std::string::npos;
       at = text.find(".entry ", at + 1)) {
    size_t start = at + 7, end = text.find_first_of(" (\n", start);
    entries.insert(text.substr(start, end - start));
  }
  state().moduleEntries[handle] = entries;
  state().modulesLoaded++;
  *module = handle;
  return 0;
}
CUresult cuModuleUnload(void *module) {
  state().moduleEntries.erase(module);
  std::free(module);
  return 0;
}
CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  MOCK_ENTER("cuModuleGetFunction");
  auto &entries = state().moduleEntries[module];
  if (!entries.count(name))
    return 500;
  void *handle = std::malloc(1);
  state().functionNames[handle] = name;
  *function = handle;
  return 0;
}
CUresult cuFuncGetAttribute(int *value, int, void *) {
  *value = 0;
  return 0;
}
CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  MOCK_ENTER("cuFuncSetAttribute");
  if (attribute == 8)
    state().maxDynamicShared[state().functionNames[function]] = value;
  return 0;
}
CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        void *stream, void **params, void **) {
  MOCK_ENTER("cuLaunchKernel");
  Launch l{state().functionNames[function], {gx, gy, gz}, {bx, by, bz},
           shared, stream, {}};
  const std::string &name = l.function;
  if (shared > 49152 && state().maxDynamicShared[name] < int(shared))
    return 701; // the real driver refuses without the opt-in
  // Parameters: a null-terminated list in these tests.
  for (int i = 0; params && params[i]; ++i)
    l.params.push_back(params[i]);
  state().launches.push_back(l);
  state().clock += 0.5;
  return 0;
}
CUresult cuStreamSynchronize(void *) { return 0; }
CUresult cuPointerGetAttribute(void *data, int attribute, unsigned long long p) {
  if (attribute != 2)
    return 1;
  for (auto &[base, size] : state().allocations)
    if (p >= base && p < base + size) {
      *static_cast<unsigned *>(data) = 2; // device
      return 0;
    }
  return 1; // not memory the driver knows
}
CUresult cuMemAlloc_v2(unsigned long long *p, size_t bytes) {
  void *m = std::malloc(bytes);
  *p = reinterpret_cast<uintptr_t>(m);
  state().allocations[*p] = bytes;
  return 0;
}
CUresult cuMemFree_v2(unsigned long long p) {
  state().allocations.erase(p);
  std::free(reinterpret_cast<void *>(p));
  return 0;
}
CUresult cuMemcpyHtoD_v2(unsigned long long d, const void *s, size_t n) {
  std::memcpy(reinterpret_cast<void *>(d), s, n);
  return 0;
}
CUresult cuMemcpyDtoH_v2(void *d, unsigned long long s, size_t n) {
  std::memcpy(d, reinterpret_cast<void *>(s), n);
  return 0;
}
// Writes the arguments it was given into the map's bytes, for the tests.
CUresult cuTensorMapEncodeTiled(void *map, int dataType, unsigned rank, void *address,
                                const unsigned long long *dims,
                                const unsigned long long *strides, const unsigned *box,
                                const unsigned *elementStrides, int interleave, int swizzle,
                                int l2, int oob) {
  MOCK_ENTER("cuTensorMapEncodeTiled");
  unsigned long long words[16] = {(unsigned long long)dataType, rank,
                                  (unsigned long long)address, dims[0], dims[1], strides[0],
                                  box[0], box[1], (unsigned long long)swizzle};
  std::memcpy(map, words, sizeof words);
  return 0;
}
CUresult cuMemsetD8Async(unsigned long long p, unsigned char value, size_t n, void *) {
  MOCK_ENTER("cuMemsetD8Async");
  std::memset(reinterpret_cast<void *>(p), value, n);
  state().memsets.push_back(n);
  state().clock += 0.25;
  return 0;
}
CUresult cuEventCreate(void **event, unsigned) {
  MOCK_ENTER("cuEventCreate");
  *event = std::malloc(1);
  state().events[*event] = -1;
  return 0;
}
CUresult cuEventDestroy_v2(void *event) {
  state().events.erase(event);
  std::free(event);
  return 0;
}
CUresult cuEventRecord(void *event, void *) {
  state().events.at(event) = state().clock;
  return 0;
}
CUresult cuEventSynchronize(void *) { return 0; }
CUresult cuEventElapsedTime(float *ms, void *start, void *end) {
  MOCK_ENTER("cuEventElapsedTime");
  if (state().events.at(start) < 0 || state().events.at(end) < 0)
    return 600; // CUDA_ERROR_NOT_READY: an event never recorded
  *ms = float(state().events.at(end) - state().events.at(start));
  return 0;
}
}
