//===- Timing.h - Device time of kernels, for autotuning -------*- C++ -*-===//
//
// What the autotuner measures a config with: the time between two events
// recorded on the launch's stream, and a write of a buffer larger than any
// L2 cache between runs so each run starts cold, as it will in a model
// where other kernels ran in between (Triton's do_bench does the same).
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_RUNTIME_CUDA_TIMING_H
#define TESSERA_RUNTIME_CUDA_TIMING_H

#include "cuda/CudaDriver.h"

namespace tessera::runtime {

/// A pair of driver events around work queued on one stream.
class EventTimer {
public:
  EventTimer();
  ~EventTimer();
  EventTimer(const EventTimer &) = delete;
  EventTimer &operator=(const EventTimer &) = delete;

  void start(CUstream stream);
  void stop(CUstream stream);
  /// Milliseconds from start to stop; waits for the stop event.
  float milliseconds();

private:
  CUevent begin = nullptr, end = nullptr;
};

/// The bytes flushL2 writes: more than the L2 of any current GPU (50 MiB
/// on H100/H200, 256 MiB of MI300's Infinity Cache).
constexpr size_t kFlushBytes = size_t(256) << 20;

/// Queues a write of a kFlushBytes buffer (allocated on first use and kept)
/// on `stream`.
void flushL2(CUstream stream);

} // namespace tessera::runtime

#endif // TESSERA_RUNTIME_CUDA_TIMING_H
