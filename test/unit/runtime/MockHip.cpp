//===- MockHip.cpp - A fake libamdhip64 for the HIP runtime's tests -------===//
//
// Exports the HIP functions the runtime resolves, with a log of calls and
// mock_hip_* control functions the tests reach with dlsym. A code object is
// any ELF image: its size is read from its header, and it defines a kernel
// NAME wherever the string "NAME.kd" (the kernel descriptor's symbol, as in
// a real HSACO's string table) appears in it. One device: "Mock MI300X".
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {
using hipError_t = int;

struct Launch {
  std::string function;
  unsigned grid[3], block[3], shared;
  void *stream;
  std::vector<uint64_t> params; // the first `expectParams` cells, 8 bytes each
};

struct State {
  int modulesLoaded = 0;
  std::map<void *, std::string> modules;      // handle -> image
  std::map<void *, std::string> functionNames; // handle -> kernel
  std::vector<Launch> launches;
  std::map<std::string, hipError_t> failNext;
  int expectParams = 0;
  int syncs = 0;
};

State &state() {
  static State s;
  return s;
}

bool failing(const char *fn, hipError_t &result) {
  auto &fail = state().failNext;
  auto it = fail.find(fn);
  if (it == fail.end())
    return false;
  result = it->second;
  fail.erase(it);
  return true;
}

#define MOCK_ENTER(fn)                                                         \
  do {                                                                         \
    hipError_t injected;                                                       \
    if (failing(fn, injected))                                                 \
      return injected;                                                         \
  } while (0)

/// The bytes of an ELF64 file: the furthest of its section and program
/// header tables (they end a file lld writes).
size_t elfSize(const unsigned char *p) {
  auto u64 = [&](int off) { uint64_t v; std::memcpy(&v, p + off, 8); return v; };
  auto u16 = [&](int off) { uint16_t v; std::memcpy(&v, p + off, 2); return uint64_t(v); };
  uint64_t sections = u64(0x28) + u16(0x3c) * u16(0x3a);
  uint64_t programs = u64(0x20) + u16(0x38) * u16(0x36);
  return size_t(std::max<uint64_t>({sections, programs, 64}));
}
} // namespace

extern "C" {

// -- control ---------------------------------------------------------------
void mock_hip_fail_next(const char *fn, int code) { state().failNext[fn] = code; }
int mock_hip_modules_loaded() { return state().modulesLoaded; }
int mock_hip_launch_count() { return int(state().launches.size()); }
void mock_hip_expect_params(int n) { state().expectParams = n; }
void mock_hip_last_launch(unsigned *grid, unsigned *block, unsigned *shared, void **stream) {
  const Launch &l = state().launches.back();
  for (int i = 0; i < 3; ++i) {
    grid[i] = l.grid[i];
    block[i] = l.block[i];
  }
  *shared = l.shared;
  *stream = l.stream;
}
const char *mock_hip_last_function() { return state().launches.back().function.c_str(); }
uint64_t mock_hip_last_param(int i) { return state().launches.back().params.at(size_t(i)); }

// -- HIP -----------------------------------------------------------------------
hipError_t hipInit(unsigned) {
  MOCK_ENTER("hipInit");
  return 0;
}
const char *hipGetErrorName(hipError_t e) {
  switch (e) {
  case 0: return "hipSuccess";
  case 1: return "hipErrorInvalidValue";
  case 200: return "hipErrorInvalidImage";
  case 500: return "hipErrorNotFound";
  case 701: return "hipErrorLaunchOutOfResources";
  default: return "hipErrorUnknown";
  }
}
const char *hipGetErrorString(hipError_t e) {
  switch (e) {
  case 1: return "invalid argument";
  case 200: return "device kernel image is invalid";
  case 500: return "named symbol not found";
  case 701: return "too many resources requested for launch";
  default: return "unknown error";
  }
}
hipError_t hipGetDeviceCount(int *count) {
  MOCK_ENTER("hipGetDeviceCount");
  *count = 1;
  return 0;
}
hipError_t hipGetDevice(int *device) {
  *device = 0;
  return 0;
}
hipError_t hipDeviceGetName(char *name, int length, int) {
  std::strncpy(name, "Mock MI300X", size_t(length));
  return 0;
}
hipError_t hipDeviceGetAttribute(int *value, int attribute, int) {
  switch (attribute) {
  case 29: *value = 2147483647; return 0; // max grid x
  case 30: case 31: *value = 65535; return 0;
  case 56: *value = 1024; return 0;       // max threads per block
  case 63: *value = 304; return 0;        // compute units
  case 74: *value = 65536; return 0;      // LDS per workgroup
  case 87: *value = 64; return 0;         // wavefront
  default: return 1;
  }
}
hipError_t hipModuleLoadData(void **module, const void *image) {
  MOCK_ENTER("hipModuleLoadData");
  auto *p = static_cast<const unsigned char *>(image);
  if (std::memcmp(p, "\x7f" "ELF", 4) != 0)
    return 200;
  auto *handle = new char;
  state().modules[handle] = std::string(reinterpret_cast<const char *>(p), elfSize(p));
  ++state().modulesLoaded;
  *module = handle;
  return 0;
}
hipError_t hipModuleUnload(void *module) {
  state().modules.erase(module);
  delete static_cast<char *>(module);
  return 0;
}
hipError_t hipModuleGetFunction(void **function, void *module, const char *name) {
  MOCK_ENTER("hipModuleGetFunction");
  const std::string &image = state().modules.at(module);
  std::string symbol = std::string(name) + ".kd";
  symbol.push_back('\0');
  size_t at = image.find(symbol);
  if (at == std::string::npos || (at > 0 && image[at - 1] != '\0'))
    return 500;
  auto *handle = new char;
  state().functionNames[handle] = name;
  *function = handle;
  return 0;
}
hipError_t hipModuleLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz,
                                 unsigned bx, unsigned by, unsigned bz, unsigned shared,
                                 void *stream, void **params, void **) {
  MOCK_ENTER("hipModuleLaunchKernel");
  Launch l{state().functionNames.at(function), {gx, gy, gz}, {bx, by, bz}, shared, stream, {}};
  for (int i = 0; i < state().expectParams; ++i) {
    uint64_t v;
    std::memcpy(&v, params[i], 8);
    l.params.push_back(v);
  }
  state().launches.push_back(l);
  return 0;
}
hipError_t hipStreamSynchronize(void *) {
  ++state().syncs;
  return 0;
}
}
