//===- CudaModule.cpp - Devices, modules and launches ---------------------===//

#include "cuda/CudaModule.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
#include <unordered_set>

using namespace tessera::runtime;

namespace {

uint64_t fnv1a(const std::string &bytes, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

DeviceInfo queryDevice(CudaDriver &cu, CUdevice device, CUcontext context) {
  DeviceInfo info;
  info.ordinal = device;
  info.context = context;
  char name[256] = {0};
  cu.check(cu.cuDeviceGetName(name, sizeof(name) - 1, device), "cuDeviceGetName");
  info.name = name;
  auto attr = [&](int attribute) {
    int value = 0;
    cu.check(cu.cuDeviceGetAttribute(&value, attribute, device),
             "cuDeviceGetAttribute");
    return value;
  };
  info.major = attr(cu::kAttrComputeCapabilityMajor);
  info.minor = attr(cu::kAttrComputeCapabilityMinor);
  info.multiprocessors = attr(cu::kAttrMultiprocessorCount);
  info.maxThreadsPerBlock = attr(cu::kAttrMaxThreadsPerBlock);
  info.maxGrid[0] = attr(cu::kAttrMaxGridDimX);
  info.maxGrid[1] = attr(cu::kAttrMaxGridDimY);
  info.maxGrid[2] = attr(cu::kAttrMaxGridDimZ);
  info.maxSharedPerBlock = attr(cu::kAttrMaxSharedMemoryPerBlock);
  info.maxSharedPerBlockOptin = attr(cu::kAttrMaxSharedMemoryPerBlockOptin);
  return info;
}

} // namespace

namespace {
// The last context this thread saw and its device: launches skip the lock
// and the map while the context stays the same.
thread_local CUcontext lastContext = nullptr;
thread_local const DeviceInfo *lastDevice = nullptr;
} // namespace

int tessera::runtime::currentOrdinal() {
  CudaDriver &cu = CudaDriver::get();
  CUcontext context = nullptr;
  if (cu.cuCtxGetCurrent(&context) != cu::kSuccess || !context)
    return -1;
  return context == lastContext ? lastDevice->ordinal : currentDevice().ordinal;
}

const DeviceInfo &tessera::runtime::currentDevice() {
  CudaDriver &cu = CudaDriver::get();
  {
    CUcontext context = nullptr;
    if (cu.cuCtxGetCurrent(&context) == cu::kSuccess && context &&
        context == lastContext)
      return *lastDevice;
  }
  static std::mutex mutex;
  static std::unordered_map<CUcontext, DeviceInfo> known;
  std::lock_guard<std::mutex> lock(mutex);
  CUcontext context = nullptr;
  cu.check(cu.cuCtxGetCurrent(&context), "cuCtxGetCurrent");
  if (!context) {
    int count = 0;
    cu.check(cu.cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (count == 0)
      throw Error("the NVIDIA driver sees no device", cu::kErrorNoDevice);
    CUdevice device = 0;
    cu.check(cu.cuDeviceGet(&device, 0), "cuDeviceGet");
    cu.check(cu.cuDevicePrimaryCtxRetain(&context, device),
             "cuDevicePrimaryCtxRetain");
    cu.check(cu.cuCtxSetCurrent(context), "cuCtxSetCurrent");
  }
  auto it = known.find(context);
  if (it == known.end()) {
    CUdevice device = 0;
    cu.check(cu.cuCtxGetDevice(&device), "cuCtxGetDevice");
    it = known.emplace(context, queryDevice(cu, device, context)).first;
  }
  lastContext = context;
  lastDevice = &it->second; // map nodes do not move
  return it->second;
}

MemoryKind tessera::runtime::pointerKind(CUdeviceptr pointer) {
  CudaDriver &cu = CudaDriver::get();
  unsigned type = 0;
  if (cu.cuPointerGetAttribute(&type, cu::kPointerAttrMemoryType, pointer) !=
      cu::kSuccess)
    return MemoryKind::Unknown; // memory the driver does not know: host malloc
  switch (type) {
  case cu::kMemoryTypeHost:
    return MemoryKind::Host;
  case cu::kMemoryTypeDevice:
    return MemoryKind::Device;
  case cu::kMemoryTypeUnified:
    return MemoryKind::Unified;
  default:
    return MemoryKind::Unknown;
  }
}

//===----------------------------------------------------------------------===//
// Module
//===----------------------------------------------------------------------===//

Module::Module(const std::string &image) {
  CudaDriver &cu = CudaDriver::get();
  currentDevice();
  // The driver reads PTX as a C string: give it one.
  std::string text = image;
  text.push_back('\0');
  char log[8192] = {0};
  int options[] = {cu::kJitErrorLogBuffer, cu::kJitErrorLogBufferSizeBytes};
  void *values[] = {log, reinterpret_cast<void *>(uintptr_t(sizeof(log) - 1))};
  CUresult result =
      cu.cuModuleLoadDataEx(&module, text.data(), 2, options, values);
  if (result != cu::kSuccess) {
    std::string message = "cuModuleLoadDataEx: " + cu.describe(result);
    if (log[0])
      message += "\n" + std::string(log);
    throw Error(message, result);
  }
}

Module::~Module() {
  if (module)
    CudaDriver::get().cuModuleUnload(module);
}

CUfunction Module::function(const std::string &name) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = functions.find(name);
  if (it != functions.end())
    return it->second;
  CudaDriver &cu = CudaDriver::get();
  CUfunction function = nullptr;
  cu.check(cu.cuModuleGetFunction(&function, module, name.c_str()),
           ("cuModuleGetFunction(" + name + ")").c_str());
  functions.emplace(name, function);
  return function;
}

ModuleCache &ModuleCache::get() {
  static ModuleCache cache;
  return cache;
}

std::shared_ptr<Module> ModuleCache::load(const std::string &image) {
  const DeviceInfo &device = currentDevice();
  uint64_t key = fnv1a(image, reinterpret_cast<uintptr_t>(device.context));
  std::lock_guard<std::mutex> lock(mutex);
  auto &bucket = modules[key];
  for (auto &[bytes, module] : bucket)
    if (bytes == image)
      return module;
  auto module = std::make_shared<Module>(image);
  bucket.emplace_back(image, module);
  return module;
}

size_t ModuleCache::size() const {
  std::lock_guard<std::mutex> lock(mutex);
  size_t n = 0;
  for (auto &entry : modules)
    n += entry.second.size();
  return n;
}

//===----------------------------------------------------------------------===//
// Launch
//===----------------------------------------------------------------------===//

void tessera::runtime::launch(CUfunction function, const LaunchConfig &config,
                              void **params) {
  CudaDriver &cu = CudaDriver::get();
  const DeviceInfo &device = currentDevice();
  static const char *axes[] = {"x", "y", "z"};
  long threads = 1;
  for (int i = 0; i < 3; ++i) {
    if (config.grid[i] == 0 || config.grid[i] > unsigned(device.maxGrid[i]))
      throw Error("grid dimension " + std::string(axes[i]) + " is " +
                      std::to_string(config.grid[i]) + "; " + device.name +
                      " allows 1 to " + std::to_string(device.maxGrid[i]),
                  cu::kErrorInvalidValue);
    if (config.block[i] == 0)
      throw Error("block dimension " + std::string(axes[i]) + " is 0",
                  cu::kErrorInvalidValue);
    threads *= config.block[i];
  }
  if (threads > device.maxThreadsPerBlock)
    throw Error("a block of " + std::to_string(threads) + " threads is over " +
                    device.name + "'s limit of " +
                    std::to_string(device.maxThreadsPerBlock),
                cu::kErrorInvalidValue);
  if (config.sharedBytes > unsigned(device.maxSharedPerBlockOptin))
    throw Error("the kernel needs " + std::to_string(config.sharedBytes) +
                    " bytes of shared memory; " + device.name + " allows " +
                    std::to_string(device.maxSharedPerBlockOptin),
                cu::kErrorInvalidValue);
  if (config.sharedBytes > unsigned(device.maxSharedPerBlock)) {
    // Above the default 48 KB a kernel must opt in, once per size.
    static std::mutex mutex;
    static std::unordered_map<CUfunction, unsigned> optedIn;
    std::lock_guard<std::mutex> lock(mutex);
    unsigned &current = optedIn[function];
    if (current < config.sharedBytes) {
      cu.check(cu.cuFuncSetAttribute(function,
                                     cu::kFuncAttrMaxDynamicSharedSizeBytes,
                                     int(config.sharedBytes)),
               "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)");
      current = config.sharedBytes;
    }
  }
  cu.check(cu.cuLaunchKernel(function, config.grid[0], config.grid[1],
                             config.grid[2], config.block[0], config.block[1],
                             config.block[2], config.sharedBytes, config.stream,
                             params, nullptr),
           "cuLaunchKernel");
}

//===----------------------------------------------------------------------===//
// TMA tensor maps
//===----------------------------------------------------------------------===//

TensorMapRecipe TensorMapRecipe::parse(const std::string &text) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    fields.push_back(text.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  auto bad = [&]() { return Error("malformed tensor map recipe '" + text + "'"); };
  if (fields.size() != 8)
    throw bad();
  auto number = [&](const std::string &f) -> int64_t {
    if (f.empty())
      throw bad();
    size_t used = 0;
    int64_t v = std::stoll(f, &used);
    if (used != f.size())
      throw bad();
    return v;
  };
  auto value = [&](const std::string &f) {
    if (f.size() < 2 || (f[0] != 'a' && f[0] != 'c'))
      throw bad();
    return Value{f[0] == 'a', number(f.substr(1))};
  };
  TensorMapRecipe r;
  r.dataType = int(number(fields[0]));
  static const unsigned bytesOf[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
  if (r.dataType < 0 || r.dataType > 12)
    throw bad();
  r.elementBytes = bytesOf[r.dataType];
  Value base = value(fields[1]);
  if (!base.isParam)
    throw bad();
  r.base = unsigned(base.v);
  r.dims[0] = value(fields[2]);
  r.dims[1] = value(fields[3]);
  r.rowStride = value(fields[4]);
  r.box[0] = unsigned(number(fields[5]));
  r.box[1] = unsigned(number(fields[6]));
  r.swizzle = unsigned(number(fields[7]));
  if (r.swizzle != 0 && r.swizzle != 32 && r.swizzle != 64 && r.swizzle != 128)
    throw bad();
  return r;
}

void tessera::runtime::encodeTensorMap(const TensorMapRecipe &recipe, const uint64_t *cells,
                                       size_t count, TensorMap &out) {
  auto get = [&](const TensorMapRecipe::Value &v, const char *what) -> int64_t {
    if (!v.isParam)
      return v.v;
    if (size_t(v.v) >= count)
      throw Error(std::string("tensor map ") + what + " refers to parameter " +
                  std::to_string(v.v) + " of " + std::to_string(count));
    // Integer parameters are 32-bit unless the kernel declared them wider;
    // the cell holds the value sign-extended either way.
    return int64_t(cells[v.v]);
  };
  if (recipe.base >= count)
    throw Error("tensor map base refers to parameter " + std::to_string(recipe.base));
  uint64_t base = cells[recipe.base];
  int64_t inner = get(recipe.dims[0], "width"), rows = get(recipe.dims[1], "height");
  int64_t stride = get(recipe.rowStride, "row stride");
  int64_t strideBytes = stride * int64_t(recipe.elementBytes);
  if (base % 16)
    throw Error("a TMA tensor descriptor's base must be 16-byte aligned, got address 0x" +
                [&] {
                  char buf[32];
                  std::snprintf(buf, sizeof buf, "%llx", (unsigned long long)base);
                  return std::string(buf);
                }(),
                cu::kErrorInvalidValue);
  if (inner < 1 || rows < 1 || inner > (int64_t(1) << 32) || rows > (int64_t(1) << 32))
    throw Error("a TMA tensor descriptor's shape must be 1 to 2^32 per dimension, got [" +
                    std::to_string(rows) + ", " + std::to_string(inner) + "]",
                cu::kErrorInvalidValue);
  if (strideBytes <= 0 || strideBytes % 16 || strideBytes >= (int64_t(1) << 40))
    throw Error("a TMA tensor descriptor's row stride must be a positive multiple of 16 bytes "
                "below 2^40, got " + std::to_string(stride) + " elements (" +
                    std::to_string(strideBytes) + " bytes)",
                cu::kErrorInvalidValue);
  unsigned long long dims[2] = {(unsigned long long)inner, (unsigned long long)rows};
  unsigned long long strides[1] = {(unsigned long long)strideBytes};
  unsigned elementStrides[2] = {1, 1};
  // CUtensorMapSwizzle: 0 none (a bulk reduction's unswizzled block), 1
  // 32 B, 2 64 B, 3 128 B.
  int swizzle = recipe.swizzle == 128 ? 3 : recipe.swizzle == 64 ? 2 : recipe.swizzle == 32 ? 1 : 0;
  CudaDriver &cu = CudaDriver::get();
  cu.check(cu.cuTensorMapEncodeTiled(&out, recipe.dataType, 2, reinterpret_cast<void *>(base),
                                     dims, strides, recipe.box, elementStrides,
                                     /*interleave=*/0, swizzle, /*l2Promotion 128B=*/2,
                                     /*oobFill zeros=*/0),
           "cuTensorMapEncodeTiled");
}
