//===- CudaDriver.cpp - libcuda through one symbol table ------------------===//

#include "cuda/CudaDriver.h"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

using namespace tessera::runtime;

void CudaDriver::load() {
  const char *override = std::getenv("TESSERA_LIBCUDA");
  libraryPath = override && *override ? override : "libcuda.so.1";
  handle = dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    throw Error("no NVIDIA driver: cannot load " + libraryPath + ": " +
                (why ? why : "unknown error"));
  }
#define TESSERA_CUDA_SYMBOL(name, symbol, params)                             \
  name = reinterpret_cast<decltype(name)>(dlsym(handle, symbol));              \
  if (!name)                                                                   \
    throw Error("the NVIDIA driver " + libraryPath + " lacks " symbol          \
                "; it is too old or not a CUDA driver");
#include "cuda/DriverSymbols.def"
  check(cuInit(0), "cuInit");
}

CudaDriver &CudaDriver::get() {
  static CudaDriver driver;
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    try {
      driver.load();
    } catch (const Error &e) {
      failure = e.what();
    }
  });
  if (!failure.empty())
    throw Error(failure);
  return driver;
}

bool CudaDriver::available() {
  try {
    CudaDriver &driver = get();
    int count = 0;
    return driver.cuDeviceGetCount(&count) == cu::kSuccess && count > 0;
  } catch (const Error &) {
    return false;
  }
}

std::string CudaDriver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName)
    cuGetErrorName(result, &name);
  if (cuGetErrorString)
    cuGetErrorString(result, &text);
  std::string out = name ? name : "CUDA error " + std::to_string(result);
  if (text)
    out += std::string(": ") + text;
  return out;
}

void CudaDriver::check(CUresult result, const char *what) const {
  if (result != cu::kSuccess)
    throw Error(std::string(what) + ": " + describe(result), result);
}
