//===- HipRuntimeTest.cpp - The HIP runtime against a mock libamdhip64 ----===//
//
// Links only the runtime and loads the mock through $TESSERA_LIBHIP.
//
//===----------------------------------------------------------------------===//

#include "hip/HipRuntime.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

using namespace tessera::runtime::hip;

namespace {

template <typename Fn> Fn mock(const char *name) {
  static void *handle = dlopen(TESSERA_MOCK_LIBHIP, RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr);
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

/// A minimal AMDGPU ELF64 image whose string table would name `kernels`'
/// descriptors ("NAME.kd"); the section header offset marks its end.
std::string fakeHsaco(const std::vector<std::string> &kernels, uint16_t machine = 224) {
  std::string image(64, '\0');
  std::memcpy(&image[0], "\x7f" "ELF", 4);
  image[4] = 2; // ELFCLASS64
  image[5] = 1; // little endian
  std::memcpy(&image[18], &machine, 2);
  image.push_back('\0');
  for (const std::string &k : kernels)
    image += k + ".kd" + std::string(1, '\0');
  uint64_t end = image.size();
  std::memcpy(&image[0x28], &end, 8); // e_shoff, no sections
  return image;
}

TEST(HipRuntimeTest, LoadsFromTheOverridePath) {
  EXPECT_TRUE(Runtime::available());
  EXPECT_EQ(Runtime::get().path(), TESSERA_MOCK_LIBHIP);
}

TEST(HipRuntimeTest, DeviceProperties) {
  const DeviceInfo &d = currentDevice();
  EXPECT_EQ(d.name, "Mock MI300X");
  EXPECT_EQ(d.multiprocessors, 304);
  EXPECT_EQ(d.maxThreadsPerBlock, 1024);
  EXPECT_EQ(d.maxSharedPerBlock, 65536);
  EXPECT_EQ(d.warpSize, 64);
}

TEST(HipRuntimeTest, OnlyAmdgpuCodeObjectsAreLoaded) {
  try {
    Module m(".version 8.0\n.target sm_90a\n");
    FAIL() << "PTX was accepted";
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "not an AMD GPU code object: the image is not an ELF file");
  }
  try {
    Module m(fakeHsaco({"k"}, /*EM_CUDA=*/190));
    FAIL() << "a cubin was accepted";
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "not an AMD GPU code object: ELF machine 190, expected 224 "
                           "(EM_AMDGPU)");
  }
}

TEST(HipRuntimeTest, ModulesAreLoadedOncePerImage) {
  int before = mock<int (*)()>("mock_hip_modules_loaded")();
  std::string image = fakeHsaco({"once_a", "once_b"});
  auto a = loadModule(image);
  auto b = loadModule(image);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(mock<int (*)()>("mock_hip_modules_loaded")(), before + 1);
  EXPECT_NE(a->function("once_a"), a->function("once_b"));
  EXPECT_EQ(a->function("once_a"), a->function("once_a"));
}

TEST(HipRuntimeTest, MissingKernelIsAnError) {
  auto m = loadModule(fakeHsaco({"present"}));
  try {
    m->function("absent");
    FAIL();
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "the code object has no kernel 'absent': hipErrorNotFound: named "
                           "symbol not found");
    EXPECT_EQ(e.code, 500);
  }
}

TEST(HipRuntimeTest, LaunchForwardsTheConfigurationAndArguments) {
  auto m = loadModule(fakeHsaco({"add"}));
  hipFunction_t f = m->function("add");
  LaunchConfig config;
  config.grid[0] = 7;
  config.grid[1] = 3;
  config.block[0] = 256;
  config.staticLds = 4096;
  config.stream = reinterpret_cast<hipStream_t>(0x1234);
  uint64_t x = 0xdeadbeef000, n = 1000;
  float scale = 0.5f;
  uint64_t cells[3] = {x, n, 0};
  std::memcpy(&cells[2], &scale, 4);
  void *params[3] = {&cells[0], &cells[1], &cells[2]};
  mock<void (*)(int)>("mock_hip_expect_params")(3);
  int before = mock<int (*)()>("mock_hip_launch_count")();
  launch(f, config, params);
  EXPECT_EQ(mock<int (*)()>("mock_hip_launch_count")(), before + 1);
  unsigned grid[3], block[3], shared;
  void *stream;
  mock<void (*)(unsigned *, unsigned *, unsigned *, void **)>("mock_hip_last_launch")(
      grid, block, &shared, &stream);
  EXPECT_EQ(grid[0], 7u);
  EXPECT_EQ(grid[1], 3u);
  EXPECT_EQ(grid[2], 1u);
  EXPECT_EQ(block[0], 256u);
  EXPECT_EQ(shared, 0u); // LDS is static, in the descriptor
  EXPECT_EQ(stream, reinterpret_cast<void *>(0x1234));
  EXPECT_STREQ(mock<const char *(*)()>("mock_hip_last_function")(), "add");
  auto param = mock<uint64_t (*)(int)>("mock_hip_last_param");
  EXPECT_EQ(param(0), x);
  EXPECT_EQ(param(1), n);
  float back;
  uint64_t raw = param(2);
  std::memcpy(&back, &raw, 4);
  EXPECT_EQ(back, 0.5f);
}

TEST(HipRuntimeTest, LaunchConfigurationIsCheckedFirst) {
  auto m = loadModule(fakeHsaco({"checked"}));
  hipFunction_t f = m->function("checked");
  int before = mock<int (*)()>("mock_hip_launch_count")();
  auto expectError = [&](LaunchConfig config, const char *message) {
    try {
      launch(f, config, nullptr);
      FAIL() << message;
    } catch (const Error &e) {
      EXPECT_STREQ(e.what(), message);
    }
  };
  LaunchConfig zero;
  zero.grid[1] = 0;
  expectError(zero, "grid dimension 1 is 0; Mock MI300X allows 1 to 65535");
  LaunchConfig wide;
  wide.block[0] = 2048;
  expectError(wide, "a workgroup of 2048 threads; Mock MI300X allows up to 1024");
  LaunchConfig partial;
  partial.block[0] = 96;
  expectError(partial, "a workgroup of 96 threads is not a whole number of 64-lane wavefronts");
  LaunchConfig lds;
  lds.staticLds = 65537;
  expectError(lds, "the kernel needs 65537 bytes of LDS; Mock MI300X has 65536 a workgroup");
  EXPECT_EQ(mock<int (*)()>("mock_hip_launch_count")(), before);
}

TEST(HipRuntimeTest, FailuresCarryHipsText) {
  auto m = loadModule(fakeHsaco({"fails"}));
  hipFunction_t f = m->function("fails");
  mock<void (*)(const char *, int)>("mock_hip_fail_next")("hipModuleLaunchKernel", 701);
  try {
    launch(f, LaunchConfig(), nullptr);
    FAIL();
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "hipModuleLaunchKernel: hipErrorLaunchOutOfResources: too many "
                           "resources requested for launch");
    EXPECT_EQ(e.code, 701);
  }
}

} // namespace

int main(int argc, char **argv) {
  setenv("TESSERA_LIBHIP", TESSERA_MOCK_LIBHIP, 1);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
