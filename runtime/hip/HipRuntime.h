//===- HipRuntime.h - libamdhip64 through one symbol table -----*- C++ -*-===//
//
// The HIP runtime, loaded with dlopen at first use (like libcuda), so it
// builds and its tests run where ROCm is not installed: code objects
// (HSACO) loaded once per device, kernels looked up by name, and launches
// checked against the device before HIP sees them. No HIP header is needed:
// the few types and constants used are declared here (HIP 5 and 6 values).
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_RUNTIME_HIP_HIPRUNTIME_H
#define TESSERA_RUNTIME_HIP_HIPRUNTIME_H

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera::runtime::hip {

using hipError_t = int;
using hipModule_t = struct ihipModule_t *;
using hipFunction_t = struct ihipModuleSymbol_t *;
using hipStream_t = struct ihipStream_t *;

namespace codes {
constexpr hipError_t kSuccess = 0;
constexpr hipError_t kErrorInvalidValue = 1;
constexpr hipError_t kErrorNoDevice = 100;
constexpr hipError_t kErrorInvalidImage = 200;
constexpr hipError_t kErrorNotFound = 500;
// hipDeviceAttribute_t.
constexpr int kAttrMaxGridDimX = 29;
constexpr int kAttrMaxGridDimY = 30;
constexpr int kAttrMaxGridDimZ = 31;
constexpr int kAttrMaxThreadsPerBlock = 56;
constexpr int kAttrMultiprocessorCount = 63;
constexpr int kAttrMaxSharedMemoryPerBlock = 74;
constexpr int kAttrWarpSize = 87;
} // namespace codes

/// A HIP call that failed (or a launch refused before it), with HIP's name
/// and text for the error.
class Error : public std::runtime_error {
public:
  Error(const std::string &message, hipError_t code = codes::kSuccess)
      : std::runtime_error(message), code(code) {}
  hipError_t code;
};

/// HIP's functions, resolved from libamdhip64.so (or from the library named
/// by $TESSERA_LIBHIP, which the tests point at a mock).
class Runtime {
public:
  /// The process's runtime, loaded and initialized on first use; throws
  /// Error when there is none or it cannot initialize.
  static Runtime &get();
  /// Whether HIP loads and sees at least one device; never throws.
  static bool available();
  /// Throws Error("<what>: <hipErrorName>: <text>") unless `result` is success.
  void check(hipError_t result, const char *what) const;
  std::string describe(hipError_t result) const;
  const std::string &path() const { return libraryPath; }

  hipError_t (*hipInit)(unsigned int) = nullptr;
  const char *(*hipGetErrorName)(hipError_t) = nullptr;
  const char *(*hipGetErrorString)(hipError_t) = nullptr;
  hipError_t (*hipGetDeviceCount)(int *) = nullptr;
  hipError_t (*hipGetDevice)(int *) = nullptr;
  hipError_t (*hipDeviceGetName)(char *, int, int) = nullptr;
  hipError_t (*hipDeviceGetAttribute)(int *, int, int) = nullptr;
  hipError_t (*hipModuleLoadData)(hipModule_t *, const void *) = nullptr;
  hipError_t (*hipModuleUnload)(hipModule_t) = nullptr;
  hipError_t (*hipModuleGetFunction)(hipFunction_t *, hipModule_t, const char *) = nullptr;
  hipError_t (*hipModuleLaunchKernel)(hipFunction_t, unsigned int, unsigned int, unsigned int,
                                      unsigned int, unsigned int, unsigned int, unsigned int,
                                      hipStream_t, void **, void **) = nullptr;
  hipError_t (*hipStreamSynchronize)(hipStream_t) = nullptr;

private:
  Runtime() = default;
  void load();
  void *handle = nullptr;
  std::string libraryPath;
};

/// What launches are checked against.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int multiprocessors = 0;
  int maxThreadsPerBlock = 0;
  int maxGrid[3] = {0, 0, 0};
  int maxSharedPerBlock = 0; // LDS a workgroup
  int warpSize = 0;
};

/// The current device (hipGetDevice), its properties read once.
const DeviceInfo &currentDevice();

/// A loaded HSA code object.
class Module {
public:
  /// Loads `image` (an AMDGPU ELF: anything else is refused before HIP
  /// sees it) on the current device.
  explicit Module(const std::string &image);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  hipFunction_t function(const std::string &name);

private:
  hipModule_t module = nullptr;
  std::unordered_map<std::string, hipFunction_t> functions;
  std::mutex mutex;
};

/// Modules by (device, image), so each code object is loaded once a device.
std::shared_ptr<Module> loadModule(const std::string &image);

struct LaunchConfig {
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {256, 1, 1};
  /// LDS the kernel declares (static, in its descriptor): checked only.
  unsigned staticLds = 0;
  hipStream_t stream = nullptr;
};

/// Launches `function` after checking `config` against the device: grid and
/// workgroup sizes in range, a workgroup a whole number of wavefronts, LDS
/// within the device's. `params` points at each argument.
void launch(hipFunction_t function, const LaunchConfig &config, void **params);

} // namespace tessera::runtime::hip

#endif // TESSERA_RUNTIME_HIP_HIPRUNTIME_H
