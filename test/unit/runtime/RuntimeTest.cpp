//===- RuntimeTest.cpp - The CUDA runtime against a mock driver -----------===//
//
// The runtime links no LLVM; this binary links only the runtime and loads
// the mock driver through $TESSERA_LIBCUDA.
//
//===----------------------------------------------------------------------===//

#include "cuda/CudaModule.h"
#include "cuda/Timing.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

using namespace tessera::runtime;

namespace {

/// Reaches the mock's control functions in the same loaded library.
template <typename Fn> Fn mock(const char *name) {
  static void *handle = dlopen(TESSERA_MOCK_LIBCUDA, RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr);
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

void failNext(const char *fn, int code) {
  mock<void (*)(const char *, int)>("mock_cuda_fail_next")(fn, code);
}

const char *kPtx = R"(.version 8.0
.target sm_90a
.address_size 64
.visible .entry add_kernel(.param .u64 x) { ret; }
.visible .entry big_shared(.param .u64 x) { ret; }
)";

TEST(RuntimeTest, DriverLoadsFromTheOverridePath) {
  EXPECT_TRUE(CudaDriver::available());
  EXPECT_EQ(CudaDriver::get().path(), TESSERA_MOCK_LIBCUDA);
}

TEST(RuntimeTest, DeviceProperties) {
  const DeviceInfo &device = currentDevice();
  EXPECT_EQ(device.name, "Mock H200");
  EXPECT_EQ(device.major, 9);
  EXPECT_EQ(device.multiprocessors, 132);
  EXPECT_EQ(device.maxSharedPerBlockOptin, 232448);
  EXPECT_NE(device.context, nullptr);
}

TEST(RuntimeTest, CurrentOrdinalFollowsTheContext) {
  CudaDriver &cu = CudaDriver::get();
  const DeviceInfo &device = currentDevice();
  EXPECT_EQ(currentOrdinal(), device.ordinal);
  // No current context: -1 (callers then ask the framework), and the next
  // currentDevice() makes the primary context current again.
  ASSERT_EQ(cu.cuCtxSetCurrent(nullptr), 0);
  EXPECT_EQ(currentOrdinal(), -1);
  EXPECT_EQ(&currentDevice(), &device);
  EXPECT_EQ(currentOrdinal(), device.ordinal);
}

TEST(RuntimeTest, ErrorsCarryTheDriversText) {
  CudaDriver &cu = CudaDriver::get();
  try {
    cu.check(701, "cuLaunchKernel");
    FAIL() << "no exception";
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "cuLaunchKernel: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: "
                           "too many resources requested for launch");
    EXPECT_EQ(e.code, 701);
  }
  EXPECT_EQ(cu.describe(12345), "CUDA error 12345");
}

TEST(RuntimeTest, ModulesAreLoadedOncePerBinary) {
  auto loads = mock<int (*)()>("mock_cuda_modules_loaded");
  int before = loads();
  auto a = ModuleCache::get().load(kPtx);
  auto b = ModuleCache::get().load(kPtx);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(loads(), before + 1);
  auto c = ModuleCache::get().load(std::string(kPtx) + "// another\n");
  EXPECT_NE(a.get(), c.get());
  EXPECT_EQ(loads(), before + 2);
}

TEST(RuntimeTest, MissingKernelIsAnError) {
  auto module = ModuleCache::get().load(kPtx);
  EXPECT_NE(module->function("add_kernel"), nullptr);
  try {
    module->function("nope");
    FAIL() << "no exception";
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "cuModuleGetFunction(nope): CUDA_ERROR_NOT_FOUND: "
                           "named symbol not found");
  }
}

TEST(RuntimeTest, BadImageReportsTheJitLog) {
  try {
    Module module(".version 8.0\nBAD\n");
    FAIL() << "no exception";
  } catch (const Error &e) {
    std::string what = e.what();
    EXPECT_NE(what.find("cuModuleLoadDataEx: CUDA_ERROR_INVALID_IMAGE"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("line 3; error: mock failure"), std::string::npos) << what;
  }
}

TEST(RuntimeTest, LaunchForwardsTheConfiguration) {
  CUfunction f = ModuleCache::get().load(kPtx)->function("add_kernel");
  int x = 5;
  void *params[] = {&x, nullptr};
  LaunchConfig config;
  config.grid[0] = 1000;
  config.grid[1] = 3;
  config.block[0] = 256;
  config.sharedBytes = 1024;
  config.stream = reinterpret_cast<CUstream>(0x1234);
  launch(f, config, params);
  unsigned grid[3], block[3], shared;
  void *stream;
  int numParams;
  mock<void (*)(unsigned *, unsigned *, unsigned *, void **, int *)>(
      "mock_cuda_last_launch")(grid, block, &shared, &stream, &numParams);
  EXPECT_EQ(grid[0], 1000u);
  EXPECT_EQ(grid[1], 3u);
  EXPECT_EQ(grid[2], 1u);
  EXPECT_EQ(block[0], 256u);
  EXPECT_EQ(shared, 1024u);
  EXPECT_EQ(stream, reinterpret_cast<void *>(0x1234));
  EXPECT_EQ(numParams, 1);
  EXPECT_STREQ(mock<const char *(*)()>("mock_cuda_last_function")(), "add_kernel");
}

TEST(RuntimeTest, LargeSharedMemoryOptsInOnce) {
  CUfunction f = ModuleCache::get().load(kPtx)->function("big_shared");
  void *params[] = {nullptr};
  LaunchConfig config;
  config.sharedBytes = 100 * 1024;
  auto calls = mock<int (*)(const char *)>("mock_cuda_count_calls");
  int before = calls("cuFuncSetAttribute");
  launch(f, config, params);
  launch(f, config, params);
  EXPECT_EQ(calls("cuFuncSetAttribute"), before + 1);
  EXPECT_EQ(mock<int (*)(const char *)>("mock_cuda_max_dynamic_shared")("big_shared"),
            100 * 1024);
}

TEST(RuntimeTest, LaunchConfigurationIsCheckedFirst) {
  CUfunction f = ModuleCache::get().load(kPtx)->function("add_kernel");
  void *params[] = {nullptr};
  auto launches = mock<int (*)()>("mock_cuda_launch_count");
  int before = launches();
  auto expectError = [&](LaunchConfig config, const std::string &message) {
    try {
      launch(f, config, params);
      ADD_FAILURE() << "no exception for: " << message;
    } catch (const Error &e) {
      EXPECT_EQ(std::string(e.what()), message);
    }
  };
  LaunchConfig zero;
  zero.grid[0] = 0;
  expectError(zero, "grid dimension x is 0; Mock H200 allows 1 to 2147483647");
  LaunchConfig tallY;
  tallY.grid[1] = 70000;
  expectError(tallY, "grid dimension y is 70000; Mock H200 allows 1 to 65535");
  LaunchConfig wide;
  wide.block[0] = 2048;
  expectError(wide, "a block of 2048 threads is over Mock H200's limit of 1024");
  LaunchConfig shared;
  shared.sharedBytes = 300 * 1024;
  expectError(shared, "the kernel needs 307200 bytes of shared memory; Mock H200 "
                      "allows 232448");
  EXPECT_EQ(launches(), before); // none reached the driver
}

TEST(RuntimeTest, DriverFailuresBecomeExceptions) {
  CUfunction f = ModuleCache::get().load(kPtx)->function("add_kernel");
  void *params[] = {nullptr};
  failNext("cuLaunchKernel", 701);
  try {
    launch(f, LaunchConfig(), params);
    FAIL() << "no exception";
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "cuLaunchKernel: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: "
                           "too many resources requested for launch");
  }
  launch(f, LaunchConfig(), params); // the next launch works again
}

TEST(RuntimeTest, PointerKinds) {
  CudaDriver &cu = CudaDriver::get();
  CUdeviceptr device = 0;
  cu.check(cu.cuMemAlloc(&device, 256), "cuMemAlloc");
  EXPECT_EQ(pointerKind(device), MemoryKind::Device);
  EXPECT_EQ(pointerKind(device + 100), MemoryKind::Device);
  int host = 0;
  EXPECT_EQ(pointerKind(reinterpret_cast<CUdeviceptr>(&host)), MemoryKind::Unknown);
  cu.check(cu.cuMemFree(device), "cuMemFree");
}

TEST(RuntimeTest, EventTimersMeasureTheWorkBetweenThem) {
  CUfunction f = ModuleCache::get().load(kPtx)->function("add_kernel");
  void *params[] = {nullptr};
  EventTimer timer;
  flushL2(nullptr); // outside the timed region
  int memsets = mock<int (*)(const char *)>("mock_cuda_count_calls")("cuMemsetD8Async");
  EXPECT_EQ(mock<int (*)(int)>("mock_cuda_memset_bytes")(memsets - 1), 256);
  timer.start(nullptr);
  launch(f, LaunchConfig(), params);
  launch(f, LaunchConfig(), params);
  timer.stop(nullptr);
  EXPECT_FLOAT_EQ(timer.milliseconds(), 1.0f); // the mock's two launches
  flushL2(nullptr); // the buffer is kept: one allocation, another write
  EXPECT_EQ(mock<int (*)(const char *)>("mock_cuda_count_calls")("cuMemsetD8Async"),
            memsets + 1);
  failNext("cuEventElapsedTime", 600);
  try {
    timer.milliseconds();
    FAIL() << "a failing cuEventElapsedTime must throw";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("cuEventElapsedTime"), std::string::npos);
  }
}

} // namespace

int main(int argc, char **argv) {
  // Before the runtime first touches the driver.
  setenv("TESSERA_LIBCUDA", TESSERA_MOCK_LIBCUDA, 1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}

TEST(RuntimeTest, TensorMapRecipes) {
  TensorMapRecipe r = TensorMapRecipe::parse("6,a0,a4,c300,a6,64,128,128");
  EXPECT_EQ(r.dataType, 6);
  EXPECT_EQ(r.elementBytes, 2u);
  EXPECT_EQ(r.base, 0u);
  EXPECT_TRUE(r.dims[0].isParam);
  EXPECT_EQ(r.dims[0].v, 4);
  EXPECT_FALSE(r.dims[1].isParam);
  EXPECT_EQ(r.dims[1].v, 300);
  EXPECT_EQ(r.box[0], 64u);
  EXPECT_EQ(r.box[1], 128u);
  EXPECT_EQ(r.swizzle, 128u);
  for (const char *bad : {"", "6,a0", "6,c0,a4,c300,a6,64,128,128", "6,a0,x4,c300,a6,64,128,128",
                          "6,a0,a4,c300,a6,64,128,16", "13,a0,a4,c300,a6,64,128,128"})
    EXPECT_THROW(TensorMapRecipe::parse(bad), Error) << bad;
}

TEST(RuntimeTest, TensorMapsAreEncodedFromTheLaunchsParameters) {
  TensorMapRecipe r = TensorMapRecipe::parse("9,a0,a1,c300,a2,64,128,128");
  uint64_t cells[3] = {0x10000, 200, 256};
  TensorMap map;
  encodeTensorMap(r, cells, 3, map);
  unsigned long long words[9];
  std::memcpy(words, map.bytes, sizeof words);
  EXPECT_EQ(words[0], 9u);        // bf16
  EXPECT_EQ(words[1], 2u);        // rank
  EXPECT_EQ(words[2], 0x10000u);  // base
  EXPECT_EQ(words[3], 200u);      // inner dimension
  EXPECT_EQ(words[4], 300u);      // rows
  EXPECT_EQ(words[5], 512u);      // row stride in bytes
  EXPECT_EQ(words[6], 64u);       // box
  EXPECT_EQ(words[7], 128u);
  EXPECT_EQ(words[8], 3u);        // 128-byte swizzle
  // Misaligned base, a row stride that is not a multiple of 16 bytes, an
  // empty dimension: errors that say so.
  uint64_t misaligned[3] = {0x10008, 200, 256};
  try {
    encodeTensorMap(r, misaligned, 3, map);
    ADD_FAILURE() << "misaligned base accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("16-byte aligned"), std::string::npos) << e.what();
  }
  uint64_t oddStride[3] = {0x10000, 200, 100};
  try {
    encodeTensorMap(r, oddStride, 3, map);
    ADD_FAILURE() << "row stride of 200 bytes accepted";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("multiple of 16 bytes below 2^40, got 100 elements (200 bytes)"),
              std::string::npos)
        << e.what();
  }
  uint64_t empty[3] = {0x10000, 0, 256};
  EXPECT_THROW(encodeTensorMap(r, empty, 3, map), Error);
  failNext("cuTensorMapEncodeTiled", 1);
  EXPECT_THROW(encodeTensorMap(r, cells, 3, map), Error);
}

// A bulk reduction's map (desc.atomic_add on sm_90a): f32, the whole block
// one box, no swizzle.
TEST(RuntimeTest, UnswizzledTensorMaps) {
  TensorMapRecipe r = TensorMapRecipe::parse("7,a0,a1,c45,a1,32,16,0");
  EXPECT_EQ(r.elementBytes, 4u);
  EXPECT_EQ(r.swizzle, 0u);
  uint64_t cells[2] = {0x20000, 72};
  TensorMap map;
  encodeTensorMap(r, cells, 2, map);
  unsigned long long words[9];
  std::memcpy(words, map.bytes, sizeof words);
  EXPECT_EQ(words[0], 7u);        // f32
  EXPECT_EQ(words[3], 72u);       // inner dimension
  EXPECT_EQ(words[4], 45u);       // rows
  EXPECT_EQ(words[5], 288u);      // row stride in bytes
  EXPECT_EQ(words[6], 32u);       // box
  EXPECT_EQ(words[7], 16u);
  EXPECT_EQ(words[8], 0u);        // no swizzle
}
