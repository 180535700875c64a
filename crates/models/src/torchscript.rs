//! Reads the tensors and integer attributes of a PyTorch archive without PyTorch.
//!
//! A TorchScript file (`torch.jit.save`) and a `torch.save` file are zip archives holding
//! `<prefix>/data.pkl`, a pickle of the module tree (or state dict), and one entry
//! `<prefix>/data/<key>` per tensor storage. The pickle refers to storages through
//! persistent ids `('storage', <dtype>Storage, key, location, numel)` and rebuilds tensors
//! with `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)`.
//!
//! [`read_archive`] runs the subset of the pickle machine these files use (protocols 2–5;
//! objects are kept as class name + state) and returns every tensor reachable from the root
//! under its dotted attribute path (`net.layers.conv.weight`), as contiguous `f32`, together
//! with the integer and integer-list attributes of the modules (`net.layers.conv.stride`).
//! Nothing in the pickle is executed: classes are only names, and the only callables
//! applied are the tensor rebuild, `OrderedDict` and TorchScript's `build_*list` helpers.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// A failure to read a PyTorch archive; the message names the file and what was wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ArchiveError {
    pub path: String,
    pub message: String,
}

/// One tensor of an archive, contiguous and row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// An integer attribute of a module: a single int or a list of ints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntAttribute {
    One(i64),
    List(Vec<i64>),
}

/// The tensors and integer attributes of an archive, by dotted path from its root.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    pub tensors: BTreeMap<String, ArchiveTensor>,
    pub attributes: BTreeMap<String, IntAttribute>,
    /// Class of each module object (`__torch__.inceptionv3.InceptionA`), by path.
    pub classes: BTreeMap<String, String>,
}

/// Reads `path`, a TorchScript or `torch.save` zip archive.
pub fn read_archive(path: &Path) -> Result<Archive, ArchiveError> {
    let fail = |message: String| ArchiveError {
        path: path.display().to_string(),
        message,
    };
    let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| fail(format!("not a PyTorch zip archive: {e}")))?;
    let pickle_name = zip
        .file_names()
        .map(str::to_string)
        .filter(|name| name.ends_with("/data.pkl") || name == "data.pkl")
        .min_by_key(|name| name.len())
        .ok_or_else(|| fail("no data.pkl entry: not a PyTorch archive".into()))?;
    let prefix = pickle_name.trim_end_matches("data.pkl").to_string();
    let pickle = read_entry(&mut zip, &pickle_name).map_err(fail)?;
    let root = Machine::default()
        .run(&pickle)
        .map_err(|e| fail(format!("data.pkl: {e}")))?;
    let mut archive = Archive::default();
    let mut walker = Walker {
        zip: &mut zip,
        prefix: &prefix,
        archive: &mut archive,
    };
    walker.walk(&root, String::new()).map_err(fail)?;
    Ok(archive)
}

fn read_entry<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>, String> {
    let mut entry = zip
        .by_name(name)
        .map_err(|e| format!("missing entry {name}: {e}"))?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read entry {name}: {e}"))?;
    Ok(bytes)
}

/// A value of the pickle machine. Containers hold indices into the machine's arena, so
/// a memoized dict filled later is seen filled everywhere (pickle's aliasing).
#[derive(Debug, Clone)]
enum Value {
    None,
    /// A bool or float: never an attribute this reader returns.
    OtherScalar,
    Int(i64),
    Str(String),
    Tuple(Vec<usize>),
    List(Vec<usize>),
    Dict(Vec<(usize, usize)>),
    /// `module name` of a GLOBAL.
    Global(String),
    /// An instance of a class: its name and the state BUILD gave it.
    Object {
        class: String,
        state: Option<usize>,
    },
    /// A persistent id (`('storage', …)` tuple).
    Persistent(usize),
    Tensor(TensorRef),
}

#[derive(Debug, Clone)]
struct TensorRef {
    dtype: String,
    key: String,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

#[derive(Default)]
struct Machine {
    arena: Vec<Value>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: BTreeMap<u64, usize>,
}

/// The reconstructed pickle: its arena and the index of the root value.
struct Pickled {
    arena: Vec<Value>,
    root: usize,
}

impl Machine {
    fn push(&mut self, value: Value) {
        self.arena.push(value);
        self.stack.push(self.arena.len() - 1);
    }

    fn pop(&mut self) -> Result<usize, String> {
        self.stack
            .pop()
            .ok_or_else(|| "stack underflow".to_string())
    }

    fn pop_mark(&mut self) -> Result<Vec<usize>, String> {
        let mark = self.marks.pop().ok_or("MARK expected")?;
        if mark > self.stack.len() {
            return Err("corrupt MARK".into());
        }
        Ok(self.stack.split_off(mark))
    }

    fn top(&self) -> Result<usize, String> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| "stack underflow".into())
    }

    fn run(mut self, bytes: &[u8]) -> Result<Pickled, String> {
        let mut input = Cursor { bytes, at: 0 };
        loop {
            let opcode = input.u8()?;
            match opcode {
                0x80 => _ = input.u8()?,    // PROTO
                0x95 => _ = input.take(8)?, // FRAME
                b'(' => self.marks.push(self.stack.len()),
                b'.' => {
                    let root = self.pop()?;
                    return Ok(Pickled {
                        arena: self.arena,
                        root,
                    });
                }
                b'N' => self.push(Value::None),
                0x88 | 0x89 => self.push(Value::OtherScalar), // NEWTRUE, NEWFALSE
                b'K' => {
                    let v = input.u8()?;
                    self.push(Value::Int(v as i64))
                }
                b'M' => {
                    let v = u16::from_le_bytes(input.array()?);
                    self.push(Value::Int(v as i64))
                }
                b'J' => {
                    let v = i32::from_le_bytes(input.array()?);
                    self.push(Value::Int(v as i64))
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes
                    let n = input.u8()? as usize;
                    let digits = input.take(n)?;
                    if n > 8 {
                        return Err(format!("integer of {n} bytes"));
                    }
                    let mut buf = if digits.last().is_some_and(|b| b & 0x80 != 0) {
                        [0xff; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..n].copy_from_slice(digits);
                    self.push(Value::Int(i64::from_le_bytes(buf)))
                }
                b'G' => {
                    _ = input.take(8)?; // BINFLOAT
                    self.push(Value::OtherScalar)
                }
                b'X' => {
                    let n = u32::from_le_bytes(input.array()?) as usize;
                    let s = input.utf8(n)?;
                    self.push(Value::Str(s))
                }
                0x8c => {
                    let n = input.u8()? as usize;
                    let s = input.utf8(n)?;
                    self.push(Value::Str(s))
                }
                b'c' => {
                    let module = input.line()?;
                    let name = input.line()?;
                    self.push(Value::Global(format!("{module} {name}")))
                }
                0x93 => {
                    // STACK_GLOBAL
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.arena[module], &self.arena[name]) {
                        (Value::Str(m), Value::Str(n)) => {
                            let global = format!("{m} {n}");
                            self.push(Value::Global(global))
                        }
                        _ => return Err("STACK_GLOBAL of non-strings".into()),
                    }
                }
                b'q' => {
                    let key = input.u8()? as u64;
                    self.memo.insert(key, self.top()?);
                }
                b'r' => {
                    let key = u32::from_le_bytes(input.array()?) as u64;
                    self.memo.insert(key, self.top()?);
                }
                0x94 => {
                    let key = self.memo.len() as u64;
                    self.memo.insert(key, self.top()?);
                }
                b'h' | b'j' => {
                    let key = if opcode == b'h' {
                        input.u8()? as u64
                    } else {
                        u32::from_le_bytes(input.array()?) as u64
                    };
                    let index = *self
                        .memo
                        .get(&key)
                        .ok_or_else(|| format!("memo key {key} unset"))?;
                    self.stack.push(index);
                }
                b')' => self.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(items))
                }
                0x85..=0x87 => {
                    let n = (opcode - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push(Value::Tuple(items))
                }
                b']' => self.push(Value::List(Vec::new())),
                b'}' => self.push(Value::Dict(Vec::new())),
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?;
                    self.extend_list(list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?;
                    self.extend_list(list, items)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    let dict = self.top()?;
                    self.extend_dict(dict, vec![key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let dict = self.top()?;
                    self.extend_dict(dict, items)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Value::Persistent(pid))
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args)
                    let _args = self.pop()?;
                    let class = self.pop()?;
                    match &self.arena[class] {
                        Value::Global(name) => {
                            let class = name.clone();
                            self.push(Value::Object { class, state: None })
                        }
                        _ => return Err("NEWOBJ of a non-class".into()),
                    }
                }
                b'b' => {
                    let state = self.pop()?;
                    let object = self.top()?;
                    match &mut self.arena[object] {
                        Value::Object { state: s, .. } => *s = Some(state),
                        Value::Tensor(_) => {} // tensor state (requires_grad, hooks): unused
                        _ => return Err("BUILD on a non-object".into()),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let value = self.reduce(callable, args)?;
                    self.push(value)
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} at byte {}",
                        input.at - 1
                    ))
                }
            }
        }
    }

    fn extend_list(&mut self, list: usize, items: Vec<usize>) -> Result<(), String> {
        match &mut self.arena[list] {
            Value::List(values) => {
                values.extend(items);
                Ok(())
            }
            _ => Err("APPEND to a non-list".into()),
        }
    }

    fn extend_dict(&mut self, dict: usize, items: Vec<usize>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of items".into());
        }
        match &mut self.arena[dict] {
            Value::Dict(entries) => {
                entries.extend(items.chunks(2).map(|kv| (kv[0], kv[1])));
                Ok(())
            }
            _ => Err("SETITEM on a non-dict".into()),
        }
    }

    fn tuple(&self, index: usize) -> Result<&[usize], String> {
        match &self.arena[index] {
            Value::Tuple(items) => Ok(items),
            _ => Err("expected a tuple".into()),
        }
    }

    fn int(&self, index: usize) -> Result<i64, String> {
        match &self.arena[index] {
            Value::Int(v) => Ok(*v),
            other => Err(format!("expected an int, found {other:?}")),
        }
    }

    fn usizes(&self, index: usize) -> Result<Vec<usize>, String> {
        self.tuple(index)?
            .iter()
            .map(|&i| usize::try_from(self.int(i)?).map_err(|_| "negative size".to_string()))
            .collect()
    }

    /// Applies the few callables these archives use.
    fn reduce(&self, callable: usize, args: usize) -> Result<Value, String> {
        let Value::Global(name) = &self.arena[callable] else {
            return Err("REDUCE of a non-global".into());
        };
        let args = self.tuple(args)?;
        match name.as_str() {
            "torch._utils _rebuild_tensor_v2" | "torch._utils _rebuild_tensor" => {
                if args.len() < 4 {
                    return Err("_rebuild_tensor_v2 with fewer than 4 arguments".into());
                }
                let Value::Persistent(pid) = self.arena[args[0]] else {
                    return Err("tensor storage is not a persistent id".into());
                };
                let pid = self.tuple(pid)?;
                if pid.len() < 3 {
                    return Err("storage id with fewer than 3 fields".into());
                }
                let dtype = match &self.arena[pid[1]] {
                    Value::Global(name) => name.clone(),
                    other => return Err(format!("storage type {other:?}")),
                };
                let key = match &self.arena[pid[2]] {
                    Value::Str(key) => key.clone(),
                    other => return Err(format!("storage key {other:?}")),
                };
                Ok(Value::Tensor(TensorRef {
                    dtype,
                    key,
                    offset: usize::try_from(self.int(args[1])?)
                        .map_err(|_| "negative storage offset")?,
                    shape: self.usizes(args[2])?,
                    stride: self.usizes(args[3])?,
                }))
            }
            "collections OrderedDict" => Ok(Value::Dict(Vec::new())),
            n if n.starts_with("torch.jit._pickle build_") => match args.first() {
                Some(&list) => Ok(self.arena[list].clone()),
                None => Err(format!("{n} without arguments")),
            },
            other => Err(format!("unsupported callable {other}")),
        }
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| "truncated pickle".to_string())?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }

    fn utf8(&mut self, n: usize) -> Result<String, String> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "invalid UTF-8 string".into())
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated line")?;
        let s = self.utf8(n)?;
        self.at += 1;
        Ok(s)
    }
}

struct Walker<'a, R: std::io::Read + std::io::Seek> {
    zip: &'a mut zip::ZipArchive<R>,
    prefix: &'a str,
    archive: &'a mut Archive,
}

impl<R: std::io::Read + std::io::Seek> Walker<'_, R> {
    fn walk(&mut self, pickled: &Pickled, path: String) -> Result<(), String> {
        self.visit(pickled, pickled.root, &path, 0)
    }

    fn visit(&mut self, p: &Pickled, index: usize, path: &str, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err(format!("{path}: module tree nested deeper than 64"));
        }
        let join = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        match &p.arena[index] {
            Value::Object { class, state } => {
                self.archive.classes.insert(path.to_string(), class.clone());
                if let Some(state) = state {
                    self.visit(p, *state, path, depth + 1)?;
                }
            }
            Value::Dict(entries) => {
                for &(key, value) in entries {
                    let Value::Str(key) = &p.arena[key] else {
                        continue;
                    };
                    let child = join(key);
                    match &p.arena[value] {
                        Value::Int(v) => {
                            self.archive.attributes.insert(child, IntAttribute::One(*v));
                        }
                        Value::List(items) | Value::Tuple(items)
                            if !items.is_empty()
                                && items.iter().all(|&i| matches!(p.arena[i], Value::Int(_))) =>
                        {
                            let ints = items
                                .iter()
                                .map(|&i| match p.arena[i] {
                                    Value::Int(v) => v,
                                    _ => unreachable!("checked above"),
                                })
                                .collect();
                            self.archive
                                .attributes
                                .insert(child, IntAttribute::List(ints));
                        }
                        _ => self.visit(p, value, &child, depth + 1)?,
                    }
                }
            }
            Value::Tensor(tensor) => {
                let values = self
                    .load(tensor)
                    .map_err(|e| format!("tensor {path}: {e}"))?;
                self.archive.tensors.insert(path.to_string(), values);
            }
            _ => {}
        }
        Ok(())
    }

    /// The tensor's elements, gathered from its storage by offset and strides.
    fn load(&mut self, tensor: &TensorRef) -> Result<ArchiveTensor, String> {
        let bytes = read_entry(self.zip, &format!("{}data/{}", self.prefix, tensor.key))?;
        let storage: Vec<f32> = match tensor.dtype.as_str() {
            "torch FloatStorage" => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
            "torch DoubleStorage" => bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(format!(
                    "storage type {other} (only float32/float64 are read)"
                ))
            }
        };
        if tensor.shape.len() != tensor.stride.len() {
            return Err("shape and stride of different ranks".into());
        }
        let count = tensor
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or("element count overflows")?;
        let mut values = Vec::with_capacity(count);
        let mut index = vec![0usize; tensor.shape.len()];
        for _ in 0..count {
            let at = tensor.offset
                + index
                    .iter()
                    .zip(&tensor.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            values.push(*storage.get(at).ok_or("element outside its storage")?);
            for axis in (0..index.len()).rev() {
                index[axis] += 1;
                if index[axis] < tensor.shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        Ok(ArchiveTensor {
            shape: tensor.shape.clone(),
            values,
        })
    }
}
