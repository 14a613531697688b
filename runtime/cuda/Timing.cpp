//===- Timing.cpp - Device time of kernels, for autotuning ----------------===//

#include "cuda/Timing.h"

#include <map>
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
  // One buffer per context (the memory of one context is not another's).
  static std::mutex mutex;
  static std::map<CUcontext, CUdeviceptr> buffers;
  CudaDriver &cu = CudaDriver::get();
  CUcontext context = nullptr;
  cu.check(cu.cuCtxGetCurrent(&context), "cuCtxGetCurrent");
  std::lock_guard<std::mutex> lock(mutex);
  CUdeviceptr &buffer = buffers[context];
  if (!buffer)
    cu.check(cu.cuMemAlloc(&buffer, kFlushBytes), "cuMemAlloc (the L2 flush buffer)");
  cu.check(cu.cuMemsetD8Async(buffer, 0, kFlushBytes, stream), "cuMemsetD8Async");
}
