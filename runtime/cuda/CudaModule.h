//===- CudaModule.h - Devices, modules and launches ------------*- C++ -*-===//
//
// What a compiled kernel needs from the driver: a current context on the
// device, its module loaded once (a cache keyed by the binary), and launches
// whose configuration is checked against the device before the driver sees
// it.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_RUNTIME_CUDA_CUDAMODULE_H
#define TESSERA_RUNTIME_CUDA_CUDAMODULE_H

#include "cuda/CudaDriver.h"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera::runtime {

/// The properties of a device that launches are checked against.
struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;
  int multiprocessors = 0;
  int maxThreadsPerBlock = 0;
  int maxGrid[3] = {0, 0, 0};
  int maxSharedPerBlock = 0;      // without opting in
  int maxSharedPerBlockOptin = 0; // the most a kernel may opt into
  CUcontext context = nullptr;
};

/// The device of the current context, making device 0's primary context
/// current when no context is. Throws Error without a driver or device.
/// The ordinal of the device of this thread's current context, or -1 when
/// no context is current (cheap: one driver query while it stays the same).
int currentOrdinal();

const DeviceInfo &currentDevice();

/// Where a pointer lives, as the driver sees it.
enum class MemoryKind { Host, Device, Unified, Unknown };
MemoryKind pointerKind(CUdeviceptr pointer);

/// A loaded module: PTX (JIT-compiled by the driver) or a cubin.
class Module {
public:
  /// Loads `image` into the current context; a PTX image that does not
  /// compile throws Error carrying the driver JIT's log.
  explicit Module(const std::string &image);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;

  /// The kernel `name`; throws Error if the module has none.
  CUfunction function(const std::string &name);

private:
  CUmodule module = nullptr;
  std::unordered_map<std::string, CUfunction> functions;
  std::mutex mutex;
};

/// Modules by binary, so each binary is loaded once per context.
class ModuleCache {
public:
  static ModuleCache &get();
  std::shared_ptr<Module> load(const std::string &image);
  size_t size() const;

private:
  mutable std::mutex mutex;
  // (context, FNV-1a of the image) -> the images with that hash and their modules.
  std::unordered_map<uint64_t,
                     std::vector<std::pair<std::string, std::shared_ptr<Module>>>>
      modules;
};

struct LaunchConfig {
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {128, 1, 1};
  unsigned sharedBytes = 0;
  CUstream stream = nullptr;
};

/// Launches `function` after checking `config` against the device: every
/// grid and block dimension in range, and dynamic shared memory within what
/// the device allows (opting in when above the 48 KB default). `params`
/// holds a pointer to each argument, as cuLaunchKernel takes them.
void launch(CUfunction function, const LaunchConfig &config, void **params);

/// How to describe a 2-D array to the TMA unit from a launch's parameters:
/// the compiler's recipe "dtype,base,dim0,dim1,stride1,box0,box1,swizzle"
/// (dims innermost first, the row stride in elements; a value is
/// "a<parameter index>" or "c<constant>").
struct TensorMapRecipe {
  struct Value {
    bool isParam = false;
    int64_t v = 0; // the parameter index or the constant
  };
  int dataType = 0; // CUtensorMapDataType
  unsigned elementBytes = 0;
  unsigned base = 0;
  Value dims[2], rowStride;
  unsigned box[2] = {0, 0};
  unsigned swizzle = 0; // bytes: 32, 64, 128 (0: none)

  /// Parses a recipe; throws Error when it is malformed.
  static TensorMapRecipe parse(const std::string &text);
};

/// A CUtensorMap: 128 opaque bytes, 64-byte aligned.
struct alignas(64) TensorMap {
  unsigned char bytes[128];
};

/// Encodes `recipe` for the launch whose 8-byte parameter cells are
/// `cells` (`count` of them). Throws Error naming the problem when the
/// array cannot be described (base not 16-byte aligned, a row stride not a
/// multiple of 16 bytes, an empty or too large dimension).
void encodeTensorMap(const TensorMapRecipe &recipe, const uint64_t *cells, size_t count,
                     TensorMap &out);

} // namespace tessera::runtime

#endif // TESSERA_RUNTIME_CUDA_CUDAMODULE_H
