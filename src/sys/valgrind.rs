//! Valgrind client requests: telling valgrind where the greenlet stacks are.
//!
//! Valgrind follows the stack pointer to know which stack memory is live: a small
//! decrease is taken for a frame push (the new bytes become undefined), a small
//! increase for a pop (the bytes become inaccessible), and a change larger than
//! `--max-stackframe` (2 MB by default) for a switch to another stack, which changes
//! nothing. A switch to or from a greenlet stack that happens to lie within 2 MB of
//! the stack it leaves (the arena is often mapped right next to a thread's stack)
//! is therefore taken for a huge push or pop, and the live frames of the other stack
//! are marked undefined or inaccessible. Registering each greenlet stack
//! (`VALGRIND_STACK_REGISTER`) makes valgrind recognise a move into another registered
//! stack as a switch, whatever the distance. See `arch/stacks.md`.
//!
//! A client request is a magic instruction sequence, valgrind.h's
//! `VALGRIND_DO_CLIENT_REQUEST_EXPR`: on the real CPU it changes nothing and leaves
//! the default result in place; valgrind's translator recognises it and answers the
//! request. So the same binary runs natively and under valgrind, with nothing to link,
//! and a request costs a handful of instructions natively. x86_64 and aarch64 have
//! the sequence; on other architectures every request returns its default.
//! The request numbers are valgrind's ABI (`Vg_ClientRequest` in valgrind.h, whose
//! header says the values never change).

/// `VG_USERREQ__RUNNING_ON_VALGRIND`.
const RUNNING_ON_VALGRIND: usize = 0x1001;
/// `VG_USERREQ__STACK_REGISTER`: (lowest byte, highest byte) -> stack id.
const STACK_REGISTER: usize = 0x1501;
/// `VG_USERREQ__STACK_DEREGISTER`: (stack id).
const STACK_DEREGISTER: usize = 0x1502;

/// How many valgrinds the process runs under: 0 natively, 1 under valgrind (2 under
/// a valgrind that itself runs under valgrind, ...). Any tool, not only memcheck.
pub(crate) fn running_on_valgrind() -> usize {
    // SAFETY: RUNNING_ON_VALGRIND takes no arguments and changes nothing.
    unsafe { client_request(0, RUNNING_ON_VALGRIND, [0; 5]) }
}

/// Valgrind's id of a registered stack, to deregister it with.
#[derive(Debug)]
pub(crate) struct StackId(usize);

/// Tells valgrind that `[low, high)` is a stack (stacks grow down from `high`), so
/// that a stack-pointer move into it is a switch, not a push or a pop. Natively it
/// does nothing and returns a meaningless id. Call [`stack_deregister`] before the
/// memory is unmapped or used for anything else.
pub(crate) fn stack_register(low: usize, high: usize) -> StackId {
    debug_assert!(low < high);
    // SAFETY: STACK_REGISTER only records the range in valgrind's own table, read
    // when it classifies stack-pointer changes; it touches no memory of the program.
    // valgrind.h: "start is the lowest addressable stack byte, end is the highest".
    StackId(unsafe { client_request(0, STACK_REGISTER, [low, high - 1, 0, 0, 0]) })
}

/// Forgets a stack registered by [`stack_register`].
pub(crate) fn stack_deregister(id: StackId) {
    // SAFETY: STACK_DEREGISTER only drops an entry of valgrind's stack table (an
    // unknown id is ignored); it touches no memory of the program.
    unsafe {
        client_request(0, STACK_DEREGISTER, [id.0, 0, 0, 0, 0]);
    }
}

/// Makes the client request `request` with arguments `args`: its result under
/// valgrind, `default` natively (and under a valgrind tool that does not handle it).
///
/// # Safety
///
/// `request` and `args` must be a request whose effect on the program is sound at
/// this point. Some requests act on the program: `CLIENT_CALL*` calls a function
/// pointer, others read memory through pointer arguments, which must then be valid.
/// Requests that only update valgrind's own bookkeeping are always sound.
#[inline(always)]
unsafe fn client_request(default: usize, request: usize, args: [usize; 5]) -> usize {
    let block = [request, args[0], args[1], args[2], args[3], args[4]];
    // SAFETY: the caller vouches for the request; `block` is live for the call.
    unsafe { magic_sequence(default, &block) }
}

/// x86_64: valgrind.h's `VALGRIND_DO_CLIENT_REQUEST_EXPR` for amd64
/// (`rolq $3,%rdi; rolq $13,%rdi; rolq $61,%rdi; rolq $51,%rdi; xchgq %rbx,%rbx`,
/// block address in rax, default in and result out of rdx).
///
/// # Safety
///
/// As for [`client_request`]; `block` is the request and its five arguments.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn magic_sequence(default: usize, block: &[usize; 6]) -> usize {
    let result;
    // SAFETY: natively, the four rotations turn rdi by 3 + 13 + 61 + 51 = 128 bits,
    // twice round, so rdi ends as it began, and `xchg rbx, rbx` swaps rbx with
    // itself: only the flags change (rol writes CF and OF, so flags are not declared
    // preserved), and rdx keeps the default. Under valgrind, the translator
    // recognises the sequence, reads the six words at rax (which `block` keeps valid
    // and initialised for the duration; the asm may read memory, the default for
    // asm!) and leaves the answer in rdx. Nothing else is touched.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") block.as_ptr(),
            inout("rdx") default => result,
        );
    }
    result
}

/// aarch64: valgrind.h's `VALGRIND_DO_CLIENT_REQUEST_EXPR` for arm64
/// (`ror x12, x12, #3; #13; #51; #61; orr x10, x10, x10`, block address in x4,
/// default in and result out of x3).
///
/// # Safety
///
/// As for [`client_request`]; `block` is the request and its five arguments.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn magic_sequence(default: usize, block: &[usize; 6]) -> usize {
    let result;
    // SAFETY: natively, the four rotations turn x12 by 3 + 13 + 51 + 61 = 128 bits,
    // so x12 ends as it began, and `orr x10, x10, x10` writes x10 with its own value:
    // nothing changes and x3 keeps the default. Under valgrind, the translator
    // recognises the sequence, reads the six words at x4 (valid and initialised for
    // the duration, as `block` is borrowed) and leaves the answer in x3.
    unsafe {
        core::arch::asm!(
            "ror x12, x12, #3",
            "ror x12, x12, #13",
            "ror x12, x12, #51",
            "ror x12, x12, #61",
            "orr x10, x10, x10",
            in("x4") block.as_ptr(),
            inout("x3") default => result,
        );
    }
    result
}

/// Other architectures: valgrind's sequence is not written here, so every request
/// gets its default answer, as natively.
///
/// # Safety
///
/// None needed (it does nothing); `unsafe` to match the other architectures.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
unsafe fn magic_sequence(default: usize, _block: &[usize; 6]) -> usize {
    default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_answer_their_default_natively_and_for_real_under_valgrind() {
        let on = running_on_valgrind();
        // .ci/valgrind sets this, so that a sequence valgrind does not recognise
        // fails here instead of leaving the stacks silently unregistered.
        if std::env::var_os("GREENLET_VALGRIND").is_some() {
            assert!(
                on >= 1,
                "GREENLET_VALGRIND is set but valgrind does not answer"
            );
        }
        // Ranges no stack pointer ever enters: registering them changes nothing.
        let buf = vec![0u8; 2 * 4096];
        let low = buf.as_ptr() as usize;
        let a = stack_register(low, low + 4096);
        let b = stack_register(low + 4096, low + 2 * 4096);
        if on == 0 {
            assert_eq!((a.0, b.0), (0, 0));
        } else {
            assert!(b.0 > a.0, "valgrind hands out increasing ids: {a:?} {b:?}");
        }
        stack_deregister(a);
        stack_deregister(b);
    }
}
