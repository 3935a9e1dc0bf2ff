//! Conversions between Python values and the core's Rust values.

use crate::errors::invalid_input;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString};
use serde_json::Value;

/// A JSON value as the equivalent Python object (dict, list, str, int, float, bool, None).
pub fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Request headers from a Python mapping (`dict`, `httpx.Headers`, …) or an iterable of
/// `(name, value)` pairs; `None` is no headers. Names and values must be `str`.
pub fn headers_from_py(headers: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(headers) = headers else {
        return Ok(Vec::new());
    };
    if headers.is_none() {
        return Ok(Vec::new());
    }
    let pairs = if headers.hasattr("items")? {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    let mut out = Vec::new();
    for pair in pairs.try_iter()? {
        let (name, value): (String, String) = pair?
            .extract()
            .map_err(|_| invalid_input("headers must map str names to str values"))?;
        out.push((name, value));
    }
    Ok(out)
}

/// A request body from `bytes`, `bytearray`, `memoryview` or `str` (UTF-8); `None` is empty.
pub fn body_from_py(data: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u8>> {
    let Some(data) = data else {
        return Ok(Vec::new());
    };
    if data.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(text) = data.cast::<PyString>() {
        return Ok(text.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(array) = data.cast::<PyByteArray>() {
        return Ok(array.to_vec());
    }
    if data.cast::<PyMemoryView>().is_ok() {
        let bytes = data.call_method0("tobytes")?;
        if let Ok(bytes) = bytes.cast::<PyBytes>() {
            return Ok(bytes.as_bytes().to_vec());
        }
    }
    Err(invalid_input(
        "data must be bytes, bytearray, memoryview, str or None",
    ))
}

/// Response headers as a `dict` of lower-case names; repeated headers are joined with `", "`
/// (RFC 9110 §5.3), except `set-cookie`, joined with `"\n"` because cookies may contain commas.
pub fn response_headers_to_py<'py>(
    py: Python<'py>,
    headers: &[(String, String)],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let joined = match dict.get_item(&name)? {
            Some(previous) => {
                let previous: String = previous.extract()?;
                let separator = if name == "set-cookie" { "\n" } else { ", " };
                format!("{previous}{separator}{value}")
            }
            None => value.clone(),
        };
        dict.set_item(name, joined)?;
    }
    Ok(dict)
}

// `PyUnicode_AsUTF8AndSize` is public C API in every CPython this wheel supports (3.3+); it only
// joined the *limited* API in 3.10, which is why pyo3 does not expose it for an `abi3-py39`
// build and extracts `&str` arguments by encoding a new `bytes` object and copying it instead.
// The cache-hit path calls it directly to borrow the str's cached UTF-8 buffer without copying.
unsafe extern "C" {
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const std::os::raw::c_char;
}

/// Borrow a Python `str` as UTF-8 without copying (the hot path's argument conversion).
pub fn borrow_str<'a>(text: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `text` is a live `str` (type-checked by pyo3) and the GIL is held. CPython caches
    // the UTF-8 form inside the object, so the buffer lives as long as `text` does, which the
    // returned lifetime is tied to. A null return means an exception is set (e.g. a lone
    // surrogate), which `PyErr::fetch` takes.
    unsafe {
        let data = PyUnicode_AsUTF8AndSize(text.as_ptr(), &mut size);
        if data.is_null() {
            return Err(PyErr::fetch(text.py()));
        }
        let len = usize::try_from(size).unwrap_or(0);
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
        // CPython guarantees valid UTF-8 here (it fails above for unencodable strings).
        std::str::from_utf8(bytes).map_err(|_| invalid_input("a string is not valid UTF-8"))
    }
}
