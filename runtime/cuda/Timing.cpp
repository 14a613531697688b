//===- Timing.cpp - Device time of kernels, for autotuning ----------------===//

#include "cuda/Timing.h"

#include <mutex>

using namespace tessera::runtime;

EventTimer::EventTimer() {
  CudaDriver &cu = CudaDriver::get();
  cu.check(cu.cuEventCreate(&begin, 0), "cuEventCreate");
  CUresult r = cu.cuEventCreate(&end, 0);
  if (r != cu::kSuccess) {
    cu.cuEventDestroy(begin);
    cu.check(r, "cuEventCreate");
  }
}

EventTimer::~EventTimer() {
  CudaDriver &cu = CudaDriver::get();
  cu.cuEventDestroy(begin);
  cu.cuEventDestroy(end);
}

void EventTimer::start(CUstream stream) {
  CudaDriver &cu = CudaDriver::get();
  cu.check(cu.cuEventRecord(begin, stream), "cuEventRecord");
}

void EventTimer::stop(CUstream stream) {
  CudaDriver &cu = CudaDriver::get();
  cu.check(cu.cuEventRecord(end, stream), "cuEventRecord");
}

float EventTimer::milliseconds() {
  CudaDriver &cu = CudaDriver::get();
  cu.check(cu.cuEventSynchronize(end), "cuEventSynchronize");
  float ms = 0;
  cu.check(cu.cuEventElapsedTime(&ms, begin, end), "cuEventElapsedTime");
  return ms;
}

void tessera::runtime::flushL2(CUstream stream) {
  static std::mutex mutex;
  static CUdeviceptr buffer = 0;
  CudaDriver &cu = CudaDriver::get();
  std::lock_guard<std::mutex> lock(mutex);
  if (!buffer)
    cu.check(cu.cuMemAlloc(&buffer, kFlushBytes), "cuMemAlloc (the L2 flush buffer)");
  cu.check(cu.cuMemsetD8Async(buffer, 0, kFlushBytes, stream), "cuMemsetD8Async");
}
