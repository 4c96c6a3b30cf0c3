// Small helpers over Node-API's C interface: argument unpacking with checks
// that turn into JavaScript TypeErrors, and export registration.
#pragma once
#include <node_api.h>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace kiln {

// Thrown by argument helpers and kernels for bad calls; becomes a JS Error.
struct JsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Span {
  float* data;
  size_t length;
};
struct ISpan {
  int32_t* data;
  size_t length;
};

class Args {
 public:
  Args(napi_env env, napi_callback_info info) : env_(env) {
    argc_ = kMax;
    if (napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr) != napi_ok)
      throw JsError("kiln: cannot read arguments");
  }
  size_t count() const { return argc_; }
  napi_env env() const { return env_; }

  bool isNull(size_t i) const {
    napi_valuetype t = type(i);
    return t == napi_null || t == napi_undefined;
  }
  // A Float32Array argument (its own view: byte offset respected).
  Span f32(size_t i) const { return typed<float, Span>(i, napi_float32_array, "Float32Array"); }
  // A Float32Array or null/undefined (then data == nullptr, length == 0).
  Span f32OrNull(size_t i) const { return isNull(i) ? Span{nullptr, 0} : f32(i); }
  ISpan i32(size_t i) const { return typed<int32_t, ISpan>(i, napi_int32_array, "Int32Array"); }
  ISpan i32OrNull(size_t i) const { return isNull(i) ? ISpan{nullptr, 0} : i32(i); }
  double number(size_t i) const {
    double v;
    if (i >= argc_ || napi_get_value_double(env_, argv_[i], &v) != napi_ok)
      throw JsError("kiln: argument " + std::to_string(i) + " must be a number");
    return v;
  }
  int64_t integer(size_t i) const {
    int64_t v;
    if (i >= argc_ || napi_get_value_int64(env_, argv_[i], &v) != napi_ok)
      throw JsError("kiln: argument " + std::to_string(i) + " must be an integer");
    return v;
  }
  bool boolean(size_t i) const {
    bool v;
    if (i >= argc_ || napi_get_value_bool(env_, argv_[i], &v) != napi_ok)
      throw JsError("kiln: argument " + std::to_string(i) + " must be a boolean");
    return v;
  }
  // A JS array whose items are Float32Arrays (e.g. all parameters of a model).
  size_t arrayLength(size_t i) const {
    uint32_t n;
    if (i >= argc_ || napi_get_array_length(env_, argv_[i], &n) != napi_ok)
      throw JsError("kiln: argument " + std::to_string(i) + " must be an array");
    return n;
  }
  Span f32At(size_t i, size_t k) const {
    napi_value item;
    if (napi_get_element(env_, argv_[i], static_cast<uint32_t>(k), &item) != napi_ok)
      throw JsError("kiln: cannot read array element");
    return typedValue<float, Span>(item, napi_float32_array, "Float32Array");
  }

 private:
  static constexpr size_t kMax = 32;
  napi_env env_;
  size_t argc_;
  napi_value argv_[kMax];

  napi_valuetype type(size_t i) const {
    if (i >= argc_) return napi_undefined;
    napi_valuetype t;
    napi_typeof(env_, argv_[i], &t);
    return t;
  }
  template <typename T, typename S>
  S typed(size_t i, napi_typedarray_type want, const char* name) const {
    if (i >= argc_) throw JsError("kiln: missing argument " + std::to_string(i));
    return typedValue<T, S>(argv_[i], want, name, i);
  }
  template <typename T, typename S>
  S typedValue(napi_value v, napi_typedarray_type want, const char* name, size_t i = 0) const {
    bool is;
    if (napi_is_typedarray(env_, v, &is) != napi_ok || !is)
      throw JsError("kiln: argument " + std::to_string(i) + " must be a " + name);
    napi_typedarray_type t;
    size_t len;
    void* data;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env_, v, &t, &len, &data, &ab, &off);
    if (t != want) throw JsError("kiln: argument " + std::to_string(i) + " must be a " + name);
    return S{static_cast<T*>(data), len};
  }
};

// Wraps a kernel body so C++ exceptions become JS exceptions.
template <void (*Fn)(const Args&)>
napi_value wrap(napi_env env, napi_callback_info info) {
  try {
    Args a(env, info);
    Fn(a);
  } catch (const JsError& e) {
    napi_throw_error(env, "KILN_NATIVE_ARG", e.what());
  } catch (const std::exception& e) {
    napi_throw_error(env, "KILN_NATIVE", e.what());
  }
  return nullptr;
}

// Same, for functions that return a value to JavaScript.
template <napi_value (*Fn)(const Args&)>
napi_value wrapValue(napi_env env, napi_callback_info info) {
  try {
    Args a(env, info);
    return Fn(a);
  } catch (const JsError& e) {
    napi_throw_error(env, "KILN_NATIVE_ARG", e.what());
  } catch (const std::exception& e) {
    napi_throw_error(env, "KILN_NATIVE", e.what());
  }
  return nullptr;
}

inline void exportFn(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

inline void require(bool ok, const char* what) {
  if (!ok) throw JsError(std::string("kiln: ") + what);
}

}  // namespace kiln
