//===- CudaDriver.h - libcuda through one symbol table ---------*- C++ -*-===//
//
// The CUDA driver API, loaded with dlopen at first use, so the runtime
// builds and its tests run where no driver is installed. No CUDA header is
// needed: the few types and constants used are declared here.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_RUNTIME_CUDA_CUDADRIVER_H
#define TESSERA_RUNTIME_CUDA_CUDADRIVER_H

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tessera::runtime {

// The driver's types, as cuda.h declares them.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;

namespace cu {
constexpr CUresult kSuccess = 0;
constexpr CUresult kErrorInvalidValue = 1;
constexpr CUresult kErrorNotInitialized = 3;
constexpr CUresult kErrorNoDevice = 100;
constexpr CUresult kErrorInvalidImage = 200;
constexpr CUresult kErrorNotFound = 500;
constexpr CUresult kErrorLaunchOutOfResources = 701;
// Device attributes.
constexpr int kAttrMaxThreadsPerBlock = 1;
constexpr int kAttrMaxGridDimX = 5;
constexpr int kAttrMaxGridDimY = 6;
constexpr int kAttrMaxGridDimZ = 7;
constexpr int kAttrMaxSharedMemoryPerBlock = 8;
constexpr int kAttrMultiprocessorCount = 16;
constexpr int kAttrComputeCapabilityMajor = 75;
constexpr int kAttrComputeCapabilityMinor = 76;
constexpr int kAttrMaxSharedMemoryPerBlockOptin = 97;
// Function attributes.
constexpr int kFuncAttrNumRegs = 4;
constexpr int kFuncAttrMaxDynamicSharedSizeBytes = 8;
// Pointer attributes and memory types.
constexpr int kPointerAttrMemoryType = 2;
constexpr unsigned kMemoryTypeHost = 1;
constexpr unsigned kMemoryTypeDevice = 2;
constexpr unsigned kMemoryTypeUnified = 4;
// Module load options: the JIT's error log.
constexpr int kJitErrorLogBuffer = 5;
constexpr int kJitErrorLogBufferSizeBytes = 6;
} // namespace cu

/// A driver call that failed, with the driver's name and text for the error.
class Error : public std::runtime_error {
public:
  Error(const std::string &message, CUresult code = cu::kSuccess)
      : std::runtime_error(message), code(code) {}
  CUresult code;
};

/// The driver's functions, resolved from libcuda.so.1 (or from the library
/// named by $TESSERA_LIBCUDA, which the unit tests point at a mock).
class CudaDriver {
public:
  /// The process's driver, loaded and initialized on first use; throws
  /// Error when there is no driver or it cannot initialize.
  static CudaDriver &get();

  /// Whether a driver can be loaded and sees at least one device; never
  /// throws.
  static bool available();

  /// Throws Error("<what>: <CUDA_ERROR_NAME>: <driver text>") unless
  /// `result` is success.
  void check(CUresult result, const char *what) const;

  /// The driver's name and description of `result`.
  std::string describe(CUresult result) const;

  /// The path the driver was loaded from.
  const std::string &path() const { return libraryPath; }

#define TESSERA_CUDA_SYMBOL(name, symbol, params) CUresult(*name) params = nullptr;
#include "cuda/DriverSymbols.def"

private:
  CudaDriver() = default;
  void load();
  void *handle = nullptr;
  std::string libraryPath;
};

} // namespace tessera::runtime

#endif // TESSERA_RUNTIME_CUDA_CUDADRIVER_H
