//! A bounded dry run of the pickle program in a `pytorch_model.bin` (its `data.pkl`), before
//! candle's unpickler builds it.
//!
//! candle's unpickler (`candle_core::pickle`) has no limits: BINGET and BINPUT copy whole objects,
//! so a few kilobytes that put a list in the memo and append it to itself twice, forty times over,
//! build 2^40 objects; a BINUNICODE allocates whatever length it declares. Allocation failure
//! aborts the process (Node included). This scan follows the same opcodes, in the same way (it
//! accepts exactly candle's, `d` included, which candle reads as an empty dict), but keeps only
//! what each value would cost: how many objects and how many string bytes it holds. It stops at
//! the first limit crossed, having allocated nothing in proportion to what the file declares.
//!
//! Our own scan rather than another crate's: the point is to bound what candle's reader will do,
//! so it has to mirror candle's reader opcode for opcode.

use std::collections::HashMap;

use crate::error::{BeitError, Result};

// What torch.save writes, measured on the 79-tensor test checkpoint (tests/fixtures/pytorch):
// 9.5 KB of pickle, 6,053 objects built (about 77 a tensor, the memo's copies included), 638
// memo entries (8 a tensor). BEiT-large has about 420 tensors: some 50 KB, 32,000 objects, 3,400
// memo entries. Each limit is 20 times or more what it needs, and bounds the unpickler's memory
// to some 150 MB.

/// The most bytes of pickle read from a checkpoint.
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;

/// The most objects the unpickler may build, the copies that BINGET and BINPUT make included.
pub const MAX_PICKLE_OBJECTS: u64 = 1 << 20;

/// The most string bytes the unpickler may hold, copies included (tensor and class names).
pub const MAX_PICKLE_STRING_BYTES: u64 = 64 << 20;

/// The longest single string (a tensor name or a module path: tens of bytes in practice).
pub const MAX_PICKLE_STRING_LEN: usize = 64 << 10;

/// The most memo entries.
pub const MAX_PICKLE_MEMO: usize = 1 << 18;

/// The deepest stack. PyTorch's pickles batch at most 1,000 dict items between marks.
pub const MAX_PICKLE_STACK: usize = 1 << 16;

/// What one value on the unpickler's stack costs once built.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    objects: u64,
    string_bytes: u64,
}

impl Cost {
    const ONE: Cost = Cost {
        objects: 1,
        string_bytes: 0,
    };

    fn plus(self, other: Cost) -> Cost {
        Cost {
            objects: self.objects.saturating_add(other.objects),
            string_bytes: self.string_bytes.saturating_add(other.string_bytes),
        }
    }
}

/// A stack slot: a value (candle's `Object::Mark` is one too, when an opcode pops it as a value).
#[derive(Clone, Copy, Debug)]
struct Slot {
    cost: Cost,
    mark: bool,
}

impl Slot {
    fn value(cost: Cost) -> Self {
        Self { cost, mark: false }
    }
}

/// The memo: what each entry would hold.
type Memo = HashMap<u32, Slot>;

/// The dry run over the pickles of one checkpoint: the limits hold for all of them together.
#[derive(Default)]
pub struct PickleScan {
    /// What the unpickler would have built so far, copies included.
    built: Cost,
}

/// The bytes of one pickle, read opcode by opcode.
struct Program<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Program<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            return Err(invalid(format!(
                "it ends inside an opcode's argument at byte {}",
                self.at
            )));
        };
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A line, as GLOBAL's module and class names are written.
    fn line(&mut self) -> Result<usize> {
        let rest = &self.bytes[self.at..];
        let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        check_string_len(len)?;
        self.at += (len + 1).min(rest.len());
        Ok(len)
    }
}

impl PickleScan {
    /// Runs one pickle program to its STOP: an error if it is malformed or crosses a limit.
    pub fn scan(&mut self, bytes: &[u8]) -> Result<()> {
        let mut program = Program { bytes, at: 0 };
        let mut stack: Vec<Slot> = Vec::new();
        let mut memo = Memo::new();
        loop {
            let op = program.u8()?;
            if !self.step(op, &mut program, &mut stack, &mut memo)? {
                return Ok(());
            }
            if stack.len() > MAX_PICKLE_STACK {
                return Err(limit("stack depth", MAX_PICKLE_STACK as u64));
            }
        }
    }

    /// One opcode, as candle's `Stack::read` runs it; false at STOP.
    fn step(
        &mut self,
        op: u8,
        program: &mut Program,
        stack: &mut Vec<Slot>,
        memo: &mut Memo,
    ) -> Result<bool> {
        match op {
            b'.' => return Ok(false),
            0x80 => {
                program.u8()?;
            }
            b'c' => {
                let bytes = program.line()? + program.line()?;
                self.push_new(stack, Cost::ONE.plus(strings(bytes)))?;
            }
            b'K' => self.push_scalar(stack, program, 1)?,
            b'M' => self.push_scalar(stack, program, 2)?,
            b'J' => self.push_scalar(stack, program, 4)?,
            b'G' => self.push_scalar(stack, program, 8)?,
            0x88 | 0x89 | b'N' | b'}' | b'd' | b')' | b']' => self.push_scalar(stack, program, 0)?,
            0x8a => {
                let n = usize::from(program.u8()?);
                if n > 8 {
                    return Err(invalid(format!("a LONG1 of {n} bytes (at most 8 are read)")));
                }
                self.push_scalar(stack, program, n)?;
            }
            b'X' => {
                let len = program.u32()? as usize;
                check_string_len(len)?;
                program.take(len)?;
                self.push_new(stack, Cost::ONE.plus(strings(len)))?;
            }
            b'(' => {
                self.count(Cost::ONE)?;
                stack.push(Slot {
                    cost: Cost::ONE,
                    mark: true,
                });
            }
            // BINPERSID, TUPLE1..3, BUILD, REDUCE, NEWOBJ: pop values, push one new object holding them.
            b'Q' => self.wrap(stack, 1)?,
            0x85 => self.wrap(stack, 1)?,
            0x86 | b'b' | b'R' | 0x81 => self.wrap(stack, 2)?,
            0x87 => self.wrap(stack, 3)?,
            b't' => {
                let items = pop_to_mark(stack)?;
                self.push_new(stack, Cost::ONE.plus(items))?;
            }
            // APPEND, SETITEM: values moved into the list or dict below them.
            b'a' => self.extend(stack, 1)?,
            b's' => self.extend(stack, 2)?,
            b'e' | b'u' => {
                let items = pop_to_mark(stack)?;
                let target = last(stack)?;
                target.cost = target.cost.plus(items);
            }
            b'h' => {
                let id = u32::from(program.u8()?);
                self.memo_get(stack, memo, id)?;
            }
            b'j' => {
                let id = program.u32()?;
                self.memo_get(stack, memo, id)?;
            }
            b'q' => {
                let id = u32::from(program.u8()?);
                self.memo_put(stack, memo, id)?;
            }
            b'r' => {
                let id = program.u32()?;
                self.memo_put(stack, memo, id)?;
            }
            other => {
                return Err(invalid(format!(
                    "unknown opcode 0x{other:02x} at byte {}",
                    program.at - 1
                )))
            }
        }
        Ok(true)
    }

    /// Counts `cost` as built; an error past a limit.
    fn count(&mut self, cost: Cost) -> Result<()> {
        self.built = self.built.plus(cost);
        if self.built.objects > MAX_PICKLE_OBJECTS {
            return Err(limit("objects built", MAX_PICKLE_OBJECTS));
        }
        if self.built.string_bytes > MAX_PICKLE_STRING_BYTES {
            return Err(limit("string bytes built", MAX_PICKLE_STRING_BYTES));
        }
        Ok(())
    }

    fn push_new(&mut self, stack: &mut Vec<Slot>, cost: Cost) -> Result<()> {
        self.count(cost)?;
        stack.push(Slot::value(cost));
        Ok(())
    }

    /// An opcode that reads `arg` bytes and pushes one object.
    fn push_scalar(&mut self, stack: &mut Vec<Slot>, program: &mut Program, arg: usize) -> Result<()> {
        program.take(arg)?;
        self.push_new(stack, Cost::ONE)
    }

    /// Pops `n` values and pushes one new object that holds them.
    fn wrap(&mut self, stack: &mut Vec<Slot>, n: usize) -> Result<()> {
        let mut held = Cost::ONE;
        for _ in 0..n {
            held = held.plus(pop(stack)?.cost);
        }
        self.count(Cost::ONE)?;
        stack.push(Slot::value(held));
        Ok(())
    }

    /// Pops `n` values into the object below them.
    fn extend(&mut self, stack: &mut Vec<Slot>, n: usize) -> Result<()> {
        let mut moved = Cost::default();
        for _ in 0..n {
            moved = moved.plus(pop(stack)?.cost);
        }
        let target = last(stack)?;
        target.cost = target.cost.plus(moved);
        Ok(())
    }

    /// BINGET: a copy of the memo entry.
    fn memo_get(&mut self, stack: &mut Vec<Slot>, memo: &Memo, id: u32) -> Result<()> {
        let Some(&slot) = memo.get(&id) else {
            return Err(invalid(format!(
                "it reads memo entry {id}, which was never written"
            )));
        };
        self.count(slot.cost)?;
        stack.push(slot);
        Ok(())
    }

    /// BINPUT: a copy of the top of the stack into the memo.
    fn memo_put(&mut self, stack: &mut [Slot], memo: &mut Memo, id: u32) -> Result<()> {
        let slot = *last(stack)?;
        self.count(slot.cost)?;
        memo.insert(id, slot);
        if memo.len() > MAX_PICKLE_MEMO {
            return Err(limit("memo entries", MAX_PICKLE_MEMO as u64));
        }
        Ok(())
    }
}

fn strings(bytes: usize) -> Cost {
    Cost {
        objects: 0,
        string_bytes: bytes as u64,
    }
}

fn pop(stack: &mut Vec<Slot>) -> Result<Slot> {
    stack
        .pop()
        .ok_or_else(|| invalid("it pops an empty stack".into()))
}

fn last(stack: &mut [Slot]) -> Result<&mut Slot> {
    stack
        .last_mut()
        .ok_or_else(|| invalid("it reads the top of an empty stack".into()))
}

/// Pops the values above the last mark, and the mark; what they held.
fn pop_to_mark(stack: &mut Vec<Slot>) -> Result<Cost> {
    let Some(mark) = stack.iter().rposition(|slot| slot.mark) else {
        return Err(invalid("it closes a mark it never opened".into()));
    };
    let items = stack[mark + 1..]
        .iter()
        .fold(Cost::default(), |sum, slot| sum.plus(slot.cost));
    stack.truncate(mark);
    Ok(items)
}

fn check_string_len(len: usize) -> Result<()> {
    if len > MAX_PICKLE_STRING_LEN {
        return Err(limit("string length", MAX_PICKLE_STRING_LEN as u64));
    }
    Ok(())
}

fn invalid(what: String) -> BeitError {
    BeitError::Weights(format!("the pickle is malformed: {what}"))
}

fn limit(what: &str, max: u64) -> BeitError {
    BeitError::Weights(format!(
        "the pickle exceeds the limit of {max} {what} (a PyTorch state dict stays far below it): \
         the file is corrupted or built to exhaust memory. Use a model.safetensors checkpoint, \
         or save the state dict again with torch.save"
    ))
}
