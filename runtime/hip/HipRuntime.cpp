//===- HipRuntime.cpp - libamdhip64 through one symbol table --------------===//

#include "hip/HipRuntime.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

using namespace tessera::runtime::hip;

void Runtime::load() {
  const char *override = std::getenv("TESSERA_LIBHIP");
  std::string tried;
  if (override && *override) {
    libraryPath = override;
    handle = dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *why = dlerror();
      tried = libraryPath + ": " + (why ? why : "unknown error");
    }
  } else {
    // The runtime a ROCm build of torch already loaded (so that its streams
    // are ours), then the versioned and unversioned names, then ROCm's path.
    for (const char *name : {"libamdhip64.so.6", "libamdhip64.so.5"})
      if (!handle && (handle = dlopen(name, RTLD_NOW | RTLD_NOLOAD)))
        libraryPath = name;
    for (const char *name : {"libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so",
                             "/opt/rocm/lib/libamdhip64.so"}) {
      if (handle)
        break;
      handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (handle) {
        libraryPath = name;
      } else {
        const char *why = dlerror();
        tried += std::string(tried.empty() ? "" : "; ") + (why ? why : name);
      }
    }
  }
  if (!handle)
    throw Error("no HIP runtime: cannot load libamdhip64 (" + tried + ")");
  auto resolve = [&](auto &fn, const char *symbol) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle, symbol));
    if (!fn)
      throw Error("the HIP runtime " + libraryPath + " lacks " + symbol +
                  "; it is too old or not libamdhip64");
  };
#define TESSERA_RESOLVE(name) resolve(name, #name)
  TESSERA_RESOLVE(hipInit);
  TESSERA_RESOLVE(hipGetErrorName);
  TESSERA_RESOLVE(hipGetErrorString);
  TESSERA_RESOLVE(hipGetDeviceCount);
  TESSERA_RESOLVE(hipGetDevice);
  TESSERA_RESOLVE(hipDeviceGetName);
  TESSERA_RESOLVE(hipDeviceGetAttribute);
  TESSERA_RESOLVE(hipModuleLoadData);
  TESSERA_RESOLVE(hipModuleUnload);
  TESSERA_RESOLVE(hipModuleGetFunction);
  TESSERA_RESOLVE(hipModuleLaunchKernel);
  TESSERA_RESOLVE(hipStreamSynchronize);
#undef TESSERA_RESOLVE
  check(hipInit(0), "hipInit");
}

Runtime &Runtime::get() {
  static Runtime runtime;
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    try {
      runtime.load();
    } catch (const Error &e) {
      failure = e.what();
    }
  });
  if (!failure.empty())
    throw Error(failure);
  return runtime;
}

bool Runtime::available() {
  try {
    int count = 0;
    return get().hipGetDeviceCount(&count) == codes::kSuccess && count > 0;
  } catch (const Error &) {
    return false;
  }
}

std::string Runtime::describe(hipError_t result) const {
  const char *name = hipGetErrorName ? hipGetErrorName(result) : nullptr;
  const char *text = hipGetErrorString ? hipGetErrorString(result) : nullptr;
  std::string out = name ? name : "HIP error " + std::to_string(result);
  if (text && *text)
    out += std::string(": ") + text;
  return out;
}

void Runtime::check(hipError_t result, const char *what) const {
  if (result != codes::kSuccess)
    throw Error(std::string(what) + ": " + describe(result), result);
}

const DeviceInfo &tessera::runtime::hip::currentDevice() {
  Runtime &hip = Runtime::get();
  int ordinal = 0;
  hip.check(hip.hipGetDevice(&ordinal), "hipGetDevice");
  static std::mutex mutex;
  static std::unordered_map<int, DeviceInfo> devices;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = devices.find(ordinal);
  if (it != devices.end())
    return it->second;
  DeviceInfo d;
  d.ordinal = ordinal;
  char name[256] = {0};
  hip.check(hip.hipDeviceGetName(name, sizeof(name) - 1, ordinal), "hipDeviceGetName");
  d.name = name;
  auto attr = [&](int attribute, int &out, const char *what) {
    hip.check(hip.hipDeviceGetAttribute(&out, attribute, ordinal), what);
  };
  attr(codes::kAttrMultiprocessorCount, d.multiprocessors, "hipDeviceGetAttribute(compute units)");
  attr(codes::kAttrMaxThreadsPerBlock, d.maxThreadsPerBlock,
       "hipDeviceGetAttribute(max threads per block)");
  attr(codes::kAttrMaxGridDimX, d.maxGrid[0], "hipDeviceGetAttribute(max grid x)");
  attr(codes::kAttrMaxGridDimY, d.maxGrid[1], "hipDeviceGetAttribute(max grid y)");
  attr(codes::kAttrMaxGridDimZ, d.maxGrid[2], "hipDeviceGetAttribute(max grid z)");
  attr(codes::kAttrMaxSharedMemoryPerBlock, d.maxSharedPerBlock,
       "hipDeviceGetAttribute(max LDS per block)");
  attr(codes::kAttrWarpSize, d.warpSize, "hipDeviceGetAttribute(warp size)");
  return devices.emplace(ordinal, d).first->second;
}

Module::Module(const std::string &image) {
  // An HSACO is an ELF64 shared object for EM_AMDGPU (224): refuse anything
  // else here, with a reason, rather than hand HIP a PTX or a cubin.
  if (image.size() < 20 || std::memcmp(image.data(), "\x7f" "ELF", 4) != 0)
    throw Error("not an AMD GPU code object: the image is not an ELF file",
                codes::kErrorInvalidImage);
  uint16_t machine = 0;
  std::memcpy(&machine, image.data() + 18, 2);
  if (machine != 224)
    throw Error("not an AMD GPU code object: ELF machine " + std::to_string(machine) +
                    ", expected 224 (EM_AMDGPU)",
                codes::kErrorInvalidImage);
  Runtime &hip = Runtime::get();
  hip.check(hip.hipModuleLoadData(&module, image.data()), "hipModuleLoadData");
}

Module::~Module() {
  if (module)
    Runtime::get().hipModuleUnload(module);
}

hipFunction_t Module::function(const std::string &name) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = functions.find(name);
  if (it != functions.end())
    return it->second;
  hipFunction_t fn = nullptr;
  Runtime &hip = Runtime::get();
  hipError_t r = hip.hipModuleGetFunction(&fn, module, name.c_str());
  if (r != codes::kSuccess)
    throw Error("the code object has no kernel '" + name + "': " + hip.describe(r), r);
  functions.emplace(name, fn);
  return fn;
}

std::shared_ptr<Module> tessera::runtime::hip::loadModule(const std::string &image) {
  int ordinal = currentDevice().ordinal;
  // FNV-1a of the image, with the device; images compared in full on a hit.
  uint64_t h = 1469598103934665603ull ^ uint64_t(ordinal);
  for (unsigned char c : image)
    h = (h ^ c) * 1099511628211ull;
  static std::mutex mutex;
  static std::unordered_map<uint64_t, std::vector<std::pair<std::string, std::shared_ptr<Module>>>>
      modules;
  std::lock_guard<std::mutex> lock(mutex);
  auto &bucket = modules[h];
  for (auto &[bytes, module] : bucket)
    if (bytes == image)
      return module;
  auto module = std::make_shared<Module>(image);
  bucket.emplace_back(image, module);
  return module;
}

void tessera::runtime::hip::launch(hipFunction_t function, const LaunchConfig &config,
                                   void **params) {
  const DeviceInfo &d = currentDevice();
  for (int i = 0; i < 3; ++i)
    if (config.grid[i] < 1 || config.grid[i] > unsigned(d.maxGrid[i]))
      throw Error("grid dimension " + std::to_string(i) + " is " +
                      std::to_string(config.grid[i]) + "; " + d.name + " allows 1 to " +
                      std::to_string(d.maxGrid[i]),
                  codes::kErrorInvalidValue);
  unsigned threads = config.block[0] * config.block[1] * config.block[2];
  if (threads < 1 || threads > unsigned(d.maxThreadsPerBlock))
    throw Error("a workgroup of " + std::to_string(threads) + " threads; " + d.name +
                    " allows up to " + std::to_string(d.maxThreadsPerBlock),
                codes::kErrorInvalidValue);
  if (d.warpSize > 0 && threads % unsigned(d.warpSize))
    throw Error("a workgroup of " + std::to_string(threads) + " threads is not a whole number "
                    "of " + std::to_string(d.warpSize) + "-lane wavefronts",
                codes::kErrorInvalidValue);
  if (config.staticLds > unsigned(d.maxSharedPerBlock))
    throw Error("the kernel needs " + std::to_string(config.staticLds) + " bytes of LDS; " +
                    d.name + " has " + std::to_string(d.maxSharedPerBlock) + " a workgroup",
                codes::kErrorInvalidValue);
  Runtime &hip = Runtime::get();
  hip.check(hip.hipModuleLaunchKernel(function, config.grid[0], config.grid[1], config.grid[2],
                                      config.block[0], config.block[1], config.block[2],
                                      /*sharedBytes=*/0, config.stream, params, nullptr),
            "hipModuleLaunchKernel");
}
