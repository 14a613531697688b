//===- CPUKernel.cpp - Load CPU objects with ORC and run them -------------===//

#include "tessera/CPUBackend.h"

#include "llvm/ExecutionEngine/Orc/AbsoluteSymbols.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

using namespace tessera::cpu;

namespace {

/// One JIT for the process; each kernel object gets its own JITDylib so that
/// kernels with the same name do not collide.
llvm::orc::LLJIT &jit() {
  static std::unique_ptr<llvm::orc::LLJIT> instance = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return llvm::cantFail(llvm::orc::LLJITBuilder().create());
  }();
  return *instance;
}

std::mutex jitMutex;
std::atomic<uint64_t> dylibCounter{0};

// tl.device_assert: a failing element calls tessera_cpu_assert_fail, which
// notes what failed and jumps back to the launcher of its program instance
// (the instance stops there, as a GPU kernel traps; what it allocated is
// not freed). The kernel's code is C-like: no destructors to skip.
thread_local std::jmp_buf *assertJump = nullptr;
thread_local std::string assertText;

extern "C" void tessera_cpu_assert_fail(const char *message, int32_t x, int32_t y, int32_t z,
                                        int32_t rank, int32_t i0, int32_t i1, int32_t i2,
                                        int32_t i3) {
  std::string text = std::string(message) + " (program (" + std::to_string(x) + ", " +
                     std::to_string(y) + ", " + std::to_string(z) + ")";
  if (rank > 0) {
    int32_t idx[4] = {i0, i1, i2, i3};
    text += ", element (";
    for (int32_t d = 0; d < rank && d < 4; ++d)
      text += (d ? ", " : "") + std::to_string(idx[d]);
    text += ")";
  }
  assertText = text + ")";
  if (!assertJump)
    std::abort();
  std::longjmp(*assertJump, 1);
}

} // namespace

std::unique_ptr<Kernel> Kernel::load(const std::string &object,
                                     const std::string &kernelName,
                                     std::string &error) {
  std::lock_guard<std::mutex> lock(jitMutex);
  llvm::orc::LLJIT &j = jit();
  std::unique_ptr<Kernel> kernel(new Kernel());
  kernel->dylibName = "tessera_kernel_" + std::to_string(dylibCounter++);
  auto dylib = j.createJITDylib(kernel->dylibName);
  if (!dylib) {
    error = llvm::toString(dylib.takeError());
    return nullptr;
  }
  // malloc, free and libm come from the process.
  auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      j.getDataLayout().getGlobalPrefix());
  if (!generator) {
    error = llvm::toString(generator.takeError());
    return nullptr;
  }
  dylib->addGenerator(std::move(*generator));
  if (llvm::Error err = dylib->define(llvm::orc::absoluteSymbols(
          {{j.mangleAndIntern("tessera_cpu_assert_fail"),
            {llvm::orc::ExecutorAddr::fromPtr(&tessera_cpu_assert_fail),
             llvm::JITSymbolFlags::Exported}}}))) {
    error = llvm::toString(std::move(err));
    return nullptr;
  }
  if (llvm::Error err = j.addObjectFile(
          *dylib, llvm::MemoryBuffer::getMemBufferCopy(object, kernelName))) {
    error = llvm::toString(std::move(err));
    return nullptr;
  }
  auto symbol = j.lookup(*dylib, kernelName + "__entry");
  if (!symbol) {
    error = llvm::toString(symbol.takeError());
    return nullptr;
  }
  kernel->entry = symbol->toPtr<EntryFn>();
  return kernel;
}

Kernel::~Kernel() = default;

void Kernel::launch(const uint32_t grid[3], const std::vector<int64_t> &slots,
                    unsigned numThreads) const {
  uint64_t total = uint64_t(grid[0]) * grid[1] * grid[2];
  if (total == 0)
    return;
  if (numThreads == 0)
    numThreads = std::max(1u, std::thread::hardware_concurrency());
  numThreads = static_cast<unsigned>(std::min<uint64_t>(numThreads, total));
  const int64_t *args = slots.data();
  EntryFn fn = entry;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex failureMutex;
  std::string failure;
  auto run = [&](uint32_t x, uint32_t y, uint32_t z) {
    std::jmp_buf jump;
    assertJump = &jump;
    if (setjmp(jump) == 0) {
      fn(args, x, y, z, grid[0], grid[1], grid[2]);
    } else {
      std::lock_guard<std::mutex> lock(failureMutex);
      if (!failed.exchange(true))
        failure = assertText;
    }
    assertJump = nullptr;
  };
  auto worker = [&] {
    for (uint64_t i = next++; i < total && !failed; i = next++) {
      uint32_t x = i % grid[0], y = (i / grid[0]) % grid[1],
               z = i / (uint64_t(grid[0]) * grid[1]);
      run(x, y, z);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < numThreads; ++t)
    threads.emplace_back(worker);
  worker();
  for (std::thread &t : threads)
    t.join();
  if (failed)
    throw std::runtime_error("tl.device_assert failed: " + failure);
}
