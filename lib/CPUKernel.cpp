//===- CPUKernel.cpp - Load CPU objects with ORC and run them -------------===//

#include "tessera/CPUBackend.h"

#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"

#include <algorithm>
#include <atomic>
#include <mutex>
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
  auto worker = [&] {
    for (uint64_t i = next++; i < total; i = next++) {
      uint32_t x = i % grid[0], y = (i / grid[0]) % grid[1],
               z = i / (uint64_t(grid[0]) * grid[1]);
      fn(args, x, y, z, grid[0], grid[1], grid[2]);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < numThreads; ++t)
    threads.emplace_back(worker);
  worker();
  for (std::thread &t : threads)
    t.join();
}
