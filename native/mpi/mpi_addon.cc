// kiln_mpi: the few MPI calls data-parallel training needs, for Node through
// Node-API. Built only where Open MPI (or another MPI) is installed; the
// kernels addon (kiln.node) never depends on it.
//
// Every call runs on the JS thread and blocks it for the collective's
// duration, except the non-blocking sum (iallreduceSum, then testSum/waitSum),
// which data-parallel training posts while backward still runs. One thread
// calls MPI at a time (MPI_THREAD_SERIALIZED suffices).
#include <mpi.h>
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace {

bool initialized() {
  int flag = 0;
  MPI_Initialized(&flag);
  return flag != 0;
}

bool finalized() {
  int flag = 0;
  MPI_Finalized(&flag);
  return flag != 0;
}

napi_value throwError(napi_env env, const std::string& message) {
  napi_throw_error(env, nullptr, message.c_str());
  return nullptr;
}

napi_value checkMpi(napi_env env, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return nullptr;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return throwError(env, std::string("kiln_mpi: ") + what + " failed: " + std::string(text, len));
}

napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

// A typed array argument's memory (its own view) and element count.
bool typedArg(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) return false;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, data, &buffer, &offset) != napi_ok) return false;
  return type == want;
}

// The one argument of the sums: a Float32Array or Float64Array (memory,
// count, MPI type). False, with a JS error thrown naming `fn`, when it is not
// one or is too long for one MPI call.
struct SumArg {
  napi_value array = nullptr;
  void* data = nullptr;
  size_t length = 0;
  MPI_Datatype type = MPI_FLOAT;
};
bool sumArg(napi_env env, napi_callback_info info, const char* fn, SumArg* out) {
  size_t argc = 1;
  napi_get_cb_info(env, info, &argc, &out->array, nullptr, nullptr);
  if (argc >= 1 && typedArg(env, out->array, napi_float32_array, &out->data, &out->length)) {
    out->type = MPI_FLOAT;
  } else if (argc >= 1 && typedArg(env, out->array, napi_float64_array, &out->data, &out->length)) {
    out->type = MPI_DOUBLE;
  } else {
    throwError(env, std::string("kiln_mpi: ") + fn + " needs a Float32Array or Float64Array");
    return false;
  }
  if (out->length > static_cast<size_t>(INT32_MAX)) {
    throwError(env, std::string("kiln_mpi: ") + fn + ": array too long for one call");
    return false;
  }
  return true;
}

// init() -> { rank, size, thread }: MPI_Init_thread unless already initialised.
napi_value Init(napi_env env, napi_callback_info) {
  if (finalized()) return throwError(env, "kiln_mpi: MPI was already finalized in this process");
  int provided = MPI_THREAD_SERIALIZED;
  if (!initialized()) {
    int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (rc != MPI_SUCCESS) return checkMpi(env, rc, "MPI_Init_thread");
    // Errors come back as codes (turned into JS errors) instead of aborting inside the library.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  } else {
    MPI_Query_thread(&provided);
  }
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int vlen = 0;
  MPI_Get_library_version(version, &vlen);
  napi_value out, lib;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "rank", number(env, rank));
  napi_set_named_property(env, out, "size", number(env, size));
  napi_set_named_property(env, out, "thread", number(env, provided));
  napi_create_string_utf8(env, version, static_cast<size_t>(vlen), &lib);
  napi_set_named_property(env, out, "library", lib);
  return out;
}

// allreduceSum(array): in-place elementwise sum over all ranks of a Float32Array or Float64Array.
napi_value AllreduceSum(napi_env env, napi_callback_info info) {
  SumArg a;
  if (!sumArg(env, info, "allreduceSum", &a)) return nullptr;
  if (a.length == 0) return nullptr;
  return checkMpi(env, MPI_Allreduce(MPI_IN_PLACE, a.data, static_cast<int>(a.length), a.type, MPI_SUM, MPI_COMM_WORLD),
                  "MPI_Allreduce");
}

// allreduceSumAsync(array) -> Promise<void>: the same sum on a libuv worker
// thread, so the JS thread (and the kernels' pool) can compute meanwhile. The
// caller must not call MPI, nor touch the array, until the promise settles
// (MPI_THREAD_SERIALIZED: one thread in MPI at a time).
struct AsyncSum {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref keep = nullptr;  // the array stays alive while the worker writes it
  void* data = nullptr;
  int count = 0;
  MPI_Datatype type = MPI_FLOAT;
  int rc = MPI_SUCCESS;
};

void asyncSumExecute(napi_env, void* p) {
  auto* job = static_cast<AsyncSum*>(p);
  job->rc = MPI_Allreduce(MPI_IN_PLACE, job->data, job->count, job->type, MPI_SUM, MPI_COMM_WORLD);
}

void asyncSumComplete(napi_env env, napi_status, void* p) {
  auto* job = static_cast<AsyncSum*>(p);
  if (job->rc == MPI_SUCCESS) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, job->deferred, undefined);
  } else {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(job->rc, text, &len);
    napi_value message, error;
    std::string m = "kiln_mpi: MPI_Allreduce failed: " + std::string(text, len);
    napi_create_string_utf8(env, m.c_str(), m.size(), &message);
    napi_create_error(env, nullptr, message, &error);
    napi_reject_deferred(env, job->deferred, error);
  }
  napi_delete_reference(env, job->keep);
  napi_delete_async_work(env, job->work);
  delete job;
}

napi_value AllreduceSumAsync(napi_env env, napi_callback_info info) {
  SumArg a;
  if (!sumArg(env, info, "allreduceSumAsync", &a)) return nullptr;
  auto* job = new AsyncSum();
  job->data = a.data;
  job->count = static_cast<int>(a.length);
  job->type = a.type;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_reference(env, a.array, 1, &job->keep);
  napi_create_string_utf8(env, "kiln_mpi.allreduce", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, nullptr, name, asyncSumExecute, asyncSumComplete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

// Non-blocking sums in flight: the request, and a reference that keeps the
// array alive while MPI may still read and write it.
struct PendingSum {
  MPI_Request request = MPI_REQUEST_NULL;
  napi_ref keep = nullptr;
};
std::map<int32_t, PendingSum> pendingSums;
int32_t nextSumId = 1;

// iallreduceSum(array) -> id: MPI_Iallreduce (in place, sum) posted now. Until
// testSum(id) says true or waitSum(id) returns, the caller leaves the array
// alone. Every rank posts its non-blocking collectives in the same order.
napi_value IallreduceSum(napi_env env, napi_callback_info info) {
  SumArg a;
  if (!sumArg(env, info, "iallreduceSum", &a)) return nullptr;
  PendingSum pending;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, a.data, static_cast<int>(a.length), a.type, MPI_SUM, MPI_COMM_WORLD,
                          &pending.request);
  if (rc != MPI_SUCCESS) return checkMpi(env, rc, "MPI_Iallreduce");
  napi_create_reference(env, a.array, 1, &pending.keep);
  int32_t id = nextSumId++;
  pendingSums[id] = pending;
  return number(env, id);
}

// The pending sum of the first argument's id, or null after throwing.
PendingSum* pendingArg(napi_env env, napi_callback_info info, const char* what, int32_t* id) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 1 || napi_get_value_int32(env, argv[0], id) != napi_ok || pendingSums.count(*id) == 0) {
    throwError(env, std::string("kiln_mpi: ") + what + ": no sum in flight with that id");
    return nullptr;
  }
  return &pendingSums[*id];
}

void releaseSum(napi_env env, int32_t id) {
  napi_delete_reference(env, pendingSums[id].keep);
  pendingSums.erase(id);
}

// testSum(id) -> boolean: progresses the sum (MPI_Test); true once it is done (the array holds the sum).
napi_value TestSum(napi_env env, napi_callback_info info) {
  int32_t id = 0;
  PendingSum* p = pendingArg(env, info, "testSum", &id);
  if (p == nullptr) return nullptr;
  int flag = 0;
  int rc = MPI_Test(&p->request, &flag, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) {
    releaseSum(env, id);
    return checkMpi(env, rc, "MPI_Test");
  }
  if (flag) releaseSum(env, id);
  napi_value out;
  napi_get_boolean(env, flag != 0, &out);
  return out;
}

// waitSum(id): blocks until the sum is done (MPI_Wait).
napi_value WaitSum(napi_env env, napi_callback_info info) {
  int32_t id = 0;
  PendingSum* p = pendingArg(env, info, "waitSum", &id);
  if (p == nullptr) return nullptr;
  int rc = MPI_Wait(&p->request, MPI_STATUS_IGNORE);
  releaseSum(env, id);
  return checkMpi(env, rc, "MPI_Wait");
}

// allgather(bytes: Uint8Array) -> Uint8Array[]: every rank's bytes, in rank order.
napi_value Allgather(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* data = nullptr;
  size_t length = 0;
  if (argc < 1 || !typedArg(env, argv[0], napi_uint8_array, &data, &length)) return throwError(env, "kiln_mpi: allgather needs a Uint8Array");
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int mine = static_cast<int>(length);
  std::vector<int> counts(size), displs(size);
  int rc = MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return checkMpi(env, rc, "MPI_Allgather");
  size_t total = 0;
  for (int r = 0; r < size; r++) {
    displs[r] = static_cast<int>(total);
    total += static_cast<size_t>(counts[r]);
  }
  std::vector<uint8_t> all(total > 0 ? total : 1);
  rc = MPI_Allgatherv(data, mine, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD);
  if (rc != MPI_SUCCESS) return checkMpi(env, rc, "MPI_Allgatherv");
  napi_value out;
  napi_create_array_with_length(env, static_cast<size_t>(size), &out);
  for (int r = 0; r < size; r++) {
    void* dst = nullptr;
    napi_value ab, view;
    napi_create_arraybuffer(env, static_cast<size_t>(counts[r]), &dst, &ab);
    if (counts[r] > 0) std::copy(all.begin() + displs[r], all.begin() + displs[r] + counts[r], static_cast<uint8_t*>(dst));
    napi_create_typedarray(env, napi_uint8_array, static_cast<size_t>(counts[r]), ab, 0, &view);
    napi_set_element(env, out, static_cast<uint32_t>(r), view);
  }
  return out;
}

napi_value Barrier(napi_env env, napi_callback_info) {
  return checkMpi(env, MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

napi_value Wtime(napi_env env, napi_callback_info) {
  return number(env, MPI_Wtime());
}

// finalize(): MPI_Finalize unless not initialised or already finalised. Only
// on the success path: a rank that finalizes while another waits in a
// collective hangs both (abort instead).
napi_value Finalize(napi_env env, napi_callback_info) {
  if (initialized() && !finalized()) return checkMpi(env, MPI_Finalize(), "MPI_Finalize");
  return nullptr;
}

// abort(code): ends every rank of the job (mpirun/srun kill the others).
napi_value Abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t code = 1;
  if (argc >= 1) napi_get_value_int32(env, argv[0], &code);
  if (initialized() && !finalized()) MPI_Abort(MPI_COMM_WORLD, code);
  return nullptr;
}

void exportFn(napi_env env, napi_value exports, const char* name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &f);
  napi_set_named_property(env, exports, name, f);
}

napi_value InitModule(napi_env env, napi_value exports) {
  exportFn(env, exports, "init", Init);
  exportFn(env, exports, "allreduceSum", AllreduceSum);
  exportFn(env, exports, "allreduceSumAsync", AllreduceSumAsync);
  exportFn(env, exports, "iallreduceSum", IallreduceSum);
  exportFn(env, exports, "testSum", TestSum);
  exportFn(env, exports, "waitSum", WaitSum);
  exportFn(env, exports, "allgather", Allgather);
  exportFn(env, exports, "barrier", Barrier);
  exportFn(env, exports, "wtime", Wtime);
  exportFn(env, exports, "finalize", Finalize);
  exportFn(env, exports, "abort", Abort);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, InitModule)
