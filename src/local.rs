//! Greenlet-local storage (gevent's `local`): [`greenlet_local!`](crate::greenlet_local)
//! declares a static whose value is per greenlet, and per thread outside greenlets.
//!
//! Values live in a per-thread map keyed by greenlet id. A greenlet's values are
//! dropped when it finishes, still on its own stack (so their destructors may block
//! or use the greenlet API), through the finish hook the greenlet layer offers
//! (`greenlet::on_finish`). Values of the thread's own stack live until the thread
//! exits.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

type Values = Vec<(usize, Rc<dyn Any>)>;

thread_local! {
    /// Greenlet id (or the thread's root id) to its values, by key address.
    static LOCALS: RefCell<HashMap<u64, Values>> = RefCell::new(HashMap::new());
}

/// A greenlet-local key, declared with [`greenlet_local!`](crate::greenlet_local).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
}

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey { init }
    }

    /// Runs `f` with the running greenlet's value, creating it on first use. `f` may
    /// block, and may use other greenlet-locals.
    ///
    /// # Panics
    /// If the thread is exiting and its storage is gone.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        let value = self.get();
        f(&value)
    }

    fn get(&'static self) -> Rc<T> {
        let owner = crate::greenlet::current_id().as_u64();
        let key = self as *const Self as usize;
        let found = LOCALS.with(|l| {
            l.borrow()
                .get(&owner)
                .and_then(|vs| vs.iter().find(|(k, _)| *k == key))
                .map(|(_, v)| v.clone())
        });
        let value = match found {
            Some(v) => v,
            None => {
                crate::greenlet::on_finish(greenlet_finished);
                // The initialiser runs with no borrow held: it may use other locals.
                let v: Rc<dyn Any> = Rc::new((self.init)());
                LOCALS.with(|l| {
                    l.borrow_mut()
                        .entry(owner)
                        .or_default()
                        .push((key, v.clone()))
                });
                v
            }
        };
        value
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("a key's values have the key's type"))
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey { .. }")
    }
}

/// Drops the values of a greenlet that has finished; called on its own stack, through
/// the greenlet layer's finish hook (registered when the first value is created).
fn greenlet_finished(id: crate::GreenletId) {
    // Every greenlet passes here: skip the hashing when no greenlet has locals.
    let values = LOCALS
        .try_with(|l| {
            let mut l = l.borrow_mut();
            if l.is_empty() {
                None
            } else {
                l.remove(&id.as_u64())
            }
        })
        .ok()
        .flatten();
    // Dropped outside the borrow: a destructor may use other locals.
    drop(values);
}

/// Declares greenlet-local statics, like `thread_local!`: each greenlet sees its own
/// value, created on first use and dropped when the greenlet finishes; code outside
/// greenlets sees one value per thread.
///
/// ```
/// use std::cell::Cell;
/// greenlet::greenlet_local! {
///     static REQUEST_ID: Cell<u32> = Cell::new(0);
/// }
/// let gs: Vec<_> = (1..=3)
///     .map(|i| greenlet::spawn(move || {
///         REQUEST_ID.with(|r| r.set(i));
///         greenlet::yield_now(); // the others set theirs meanwhile
///         REQUEST_ID.with(|r| r.get())
///     }))
///     .collect();
/// let seen: Vec<u32> = greenlet::joinall(gs).into_iter().map(Result::unwrap).collect();
/// assert_eq!(seen, [1, 2, 3]);
/// assert_eq!(REQUEST_ID.with(|r| r.get()), 0); // the thread's own value
/// ```
#[macro_export]
macro_rules! greenlet_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::local::LocalKey<$t> = {
            fn __init() -> $t {
                $init
            }
            $crate::local::LocalKey::new(__init)
        };
        $crate::greenlet_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $crate::greenlet_local!($(#[$attr])* $vis static $name: $t = $init;);
    };
}
