//! The cache of input frames registered with NVENC.
//!
//! Registering a CUDA pointer (`nvEncRegisterResource`) is expensive; mapping a registered one
//! (`nvEncMapInputResource`) is cheap. NVENC must not hold a registration of freed memory
//! ("unregister before destroying the resource"), so the cache keys each registration on the
//! allocation's never-reused identity ([`crate::AsDevicePtr::allocation_id`]), not its
//! address, and a registration lives only while its memory is known to be alive:
//!
//! - frames the **caller** owns are registered while the encoder holds them and unregistered
//!   when they are released back (the caller may free them right after);
//! - the encoder's **own** copy frames stay registered (`keep`) until the encoder unregisters
//!   them ([`RegistrationCache::remove`]) just before freeing them.
//!
//! It is generic over a [`Registrar`] so its bookkeeping is tested without a GPU.

use crate::error::Result;
use crate::frame::PixelFormat;

/// What identifies a registration: the allocation (never reused) and its geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ResourceKey {
    /// [`crate::AsDevicePtr::allocation_id`] of the frame's memory.
    pub(crate) alloc: u64,
    pub(crate) ptr: u64,
    pub(crate) pitch: usize,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) format: PixelFormat,
}

/// Registers and unregisters resources (NVENC in the encoder, a fake in tests).
pub(crate) trait Registrar {
    /// The registered-resource handle.
    type Handle: Copy;
    /// Registers `key`.
    fn register(&mut self, key: &ResourceKey) -> Result<Self::Handle>;
    /// Unregisters a handle `register` returned.
    fn unregister(&mut self, handle: Self::Handle) -> Result<()>;
}

struct Entry<H> {
    key: ResourceKey,
    handle: H,
    in_use: u32,
    last_used: u64,
}

/// Registered resources, least recently used first out when the cache is full.
pub(crate) struct RegistrationCache<H> {
    entries: Vec<Entry<H>>,
    capacity: usize,
    clock: u64,
}

impl<H: Copy> RegistrationCache<H> {
    /// A cache that keeps at most `capacity` idle registrations (in-use ones are never evicted).
    pub(crate) fn new(capacity: usize) -> Self {
        RegistrationCache {
            entries: Vec::new(),
            capacity: capacity.max(1),
            clock: 0,
        }
    }

    /// Number of registrations held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The handle for `key`, registering it if needed, and marks it in use (mapped) until
    /// [`Self::release`].
    pub(crate) fn acquire<R: Registrar<Handle = H>>(
        &mut self,
        key: &ResourceKey,
        reg: &mut R,
    ) -> Result<H> {
        self.clock += 1;
        if let Some(e) = self.entries.iter_mut().find(|e| e.key == *key) {
            e.in_use += 1;
            e.last_used = self.clock;
            return Ok(e.handle);
        }
        while self.entries.len() >= self.capacity {
            let lru = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.in_use == 0)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i);
            match lru {
                Some(i) => {
                    let h = self.entries.swap_remove(i).handle;
                    reg.unregister(h)?;
                }
                None => break,
            }
        }
        let handle = reg.register(key)?;
        self.entries.push(Entry {
            key: *key,
            handle,
            in_use: 1,
            last_used: self.clock,
        });
        Ok(handle)
    }

    /// Marks one use of `key` finished (its picture was unmapped). Unless `keep`, a
    /// registration no longer in use is unregistered at once: its memory goes back to a caller
    /// who may free it.
    pub(crate) fn release<R: Registrar<Handle = H>>(
        &mut self,
        key: &ResourceKey,
        keep: bool,
        reg: &mut R,
    ) -> Result<()> {
        let Some(i) = self.entries.iter().position(|e| e.key == *key) else {
            return Ok(());
        };
        let e = &mut self.entries[i];
        e.in_use = e.in_use.saturating_sub(1);
        if e.in_use == 0 && !keep {
            let h = self.entries.swap_remove(i).handle;
            reg.unregister(h)?;
        }
        Ok(())
    }

    /// Unregisters every registration of allocation `alloc` (before the memory is freed).
    pub(crate) fn remove<R: Registrar<Handle = H>>(
        &mut self,
        alloc: u64,
        reg: &mut R,
    ) -> Result<()> {
        let mut first = Ok(());
        while let Some(i) = self.entries.iter().position(|e| e.key.alloc == alloc) {
            let h = self.entries.swap_remove(i).handle;
            if let Err(e) = reg.unregister(h) {
                first = first.and(Err(e));
            }
        }
        first
    }

    /// Unregisters everything (the caller has unmapped every picture). Keeps going after a
    /// failure and returns the first one.
    pub(crate) fn clear<R: Registrar<Handle = H>>(&mut self, reg: &mut R) -> Result<()> {
        let mut first = Ok(());
        for e in self.entries.drain(..) {
            if let Err(err) = reg.unregister(e.handle) {
                if first.is_ok() {
                    first = Err(err);
                }
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[derive(Default)]
    struct Fake {
        next: u32,
        live: Vec<u32>,
        registrations: u32,
        fail_next: bool,
    }

    impl Registrar for Fake {
        type Handle = u32;
        fn register(&mut self, _key: &ResourceKey) -> Result<u32> {
            if std::mem::take(&mut self.fail_next) {
                return Err(Error::InvalidState("register failed".into()));
            }
            self.next += 1;
            self.registrations += 1;
            self.live.push(self.next);
            Ok(self.next)
        }
        fn unregister(&mut self, h: u32) -> Result<()> {
            let i = self
                .live
                .iter()
                .position(|&x| x == h)
                .expect("double unregister");
            self.live.swap_remove(i);
            Ok(())
        }
    }

    fn key(ptr: u64) -> ResourceKey {
        ResourceKey {
            alloc: ptr,
            ptr,
            pitch: 2048,
            width: 1920,
            height: 1080,
            format: PixelFormat::Nv12,
        }
    }

    #[test]
    fn kept_frames_register_once_across_reuse() {
        let mut reg = Fake::default();
        let mut c = RegistrationCache::new(8);
        // The encoder's 4 copy frames cycled 100 times.
        for i in 0..400u64 {
            let k = key(0x1000 + (i % 4) * 0x10_0000);
            let h = c.acquire(&k, &mut reg).unwrap();
            assert!(reg.live.contains(&h));
            c.release(&k, true, &mut reg).unwrap();
        }
        assert_eq!(reg.registrations, 4);
        assert_eq!(c.len(), 4);
        c.remove(0x1000, &mut reg).unwrap();
        assert_eq!(c.len(), 3);
        c.clear(&mut reg).unwrap();
        assert!(reg.live.is_empty());
        assert_eq!(c.len(), 0);
    }

    /// Issue 15, defect 1: a caller frame's registration ends when it is released back, so
    /// memory freed and re-allocated at the same address never meets a stale registration.
    #[test]
    fn caller_frames_are_unregistered_on_release_and_keyed_by_allocation() {
        let mut reg = Fake::default();
        let mut c = RegistrationCache::new(8);
        let a = key(0x1000);
        let h1 = c.acquire(&a, &mut reg).unwrap();
        c.release(&a, false, &mut reg).unwrap();
        assert!(
            reg.live.is_empty(),
            "released caller frame still registered"
        );
        assert_eq!(c.len(), 0);
        // The same address, a new allocation (same geometry): a fresh registration.
        let b = ResourceKey { alloc: 2, ..a };
        let h2 = c.acquire(&b, &mut reg).unwrap();
        assert_ne!(h1, h2);
        // A kept registration of allocation 2, then allocation 3 at the same address: the
        // identity differs, so it never reuses allocation 2's handle.
        c.release(&b, true, &mut reg).unwrap();
        let d = ResourceKey { alloc: 3, ..a };
        let h3 = c.acquire(&d, &mut reg).unwrap();
        assert_ne!(h3, h2);
        c.release(&d, false, &mut reg).unwrap();
        c.remove(2, &mut reg).unwrap();
        assert!(reg.live.is_empty());
    }

    #[test]
    fn lru_eviction_spares_mapped_resources() {
        let mut reg = Fake::default();
        let mut c = RegistrationCache::new(2);
        let (a, b, d) = (key(1), key(2), key(3));
        c.acquire(&a, &mut reg).unwrap(); // a stays mapped
        c.acquire(&b, &mut reg).unwrap();
        c.release(&b, true, &mut reg).unwrap();
        c.acquire(&d, &mut reg).unwrap(); // evicts b (idle), not a (mapped)
        assert_eq!(c.len(), 2);
        assert_eq!(reg.live.len(), 2);
        assert!(c.entries.iter().any(|e| e.key == a));
        assert!(!c.entries.iter().any(|e| e.key == b));
        // All mapped: the cache grows past capacity rather than unregistering a mapped frame.
        let e = key(4);
        c.acquire(&e, &mut reg).unwrap();
        assert_eq!(c.len(), 3);
        // A failing registration leaves the cache consistent.
        reg.fail_next = true;
        assert!(c.acquire(&key(5), &mut reg).is_err());
        assert_eq!(c.len(), 3);
        for k in [a, d, e] {
            c.release(&k, true, &mut reg).unwrap();
        }
        c.clear(&mut reg).unwrap();
        assert!(reg.live.is_empty());
    }
}
