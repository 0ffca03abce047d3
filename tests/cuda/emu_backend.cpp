/* emu_backend.cpp — the cuda backend's sources (kernels/, the .cu files) compiled by the host C++
 * compiler with SBS_CUDA_EMU: "device memory" is host memory, every kernel launch runs its
 * whole grid in a loop and GEMMs are plain loops, so the emulation test (test_cuda.cpp) checks
 * the kernel bodies and everything the backend does around them on any machine.
 * sbs_cuda_emu_backend_create makes it. */
#define SBS_CUDA_EMU 1
#include "backend.cu"
#include "k_classic.cu"
#include "k_sbs.cu"
