//! The cache of input frames registered with NVENC.
//!
//! Registering a CUDA pointer (`nvEncRegisterResource`) is expensive; mapping a registered one
//! (`nvEncMapInputResource`) is cheap. The cache registers each distinct frame once, keyed by
//! address and geometry, so frames of a [`crate::FramePool`] stay registered across reuse. It is
//! generic over a [`Registrar`] so its bookkeeping is tested without a GPU.

use crate::error::Result;
use crate::frame::PixelFormat;

/// What identifies a registration: a frame's address and geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ResourceKey {
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
        // The same address with another geometry: the memory was freed and reused; the old
        // registration is stale.
        let mut i = 0;
        while i < self.entries.len() {
            let e = &self.entries[i];
            if e.key.ptr == key.ptr && e.in_use == 0 {
                let h = self.entries.swap_remove(i).handle;
                reg.unregister(h)?;
            } else {
                i += 1;
            }
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

    /// Marks one use of `key` finished (its picture was unmapped).
    pub(crate) fn release(&mut self, key: &ResourceKey) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.key == *key) {
            e.in_use = e.in_use.saturating_sub(1);
        }
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
            ptr,
            pitch: 2048,
            width: 1920,
            height: 1080,
            format: PixelFormat::Nv12,
        }
    }

    #[test]
    fn pooled_frames_register_once_across_reuse() {
        let mut reg = Fake::default();
        let mut c = RegistrationCache::new(8);
        // A pool of 4 frames cycled 100 times.
        for i in 0..400u64 {
            let k = key(0x1000 + (i % 4) * 0x10_0000);
            let h = c.acquire(&k, &mut reg).unwrap();
            assert!(reg.live.contains(&h));
            c.release(&k);
        }
        assert_eq!(reg.registrations, 4);
        assert_eq!(c.len(), 4);
        c.clear(&mut reg).unwrap();
        assert!(reg.live.is_empty());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn same_pointer_with_new_geometry_replaces_the_stale_registration() {
        let mut reg = Fake::default();
        let mut c = RegistrationCache::new(8);
        let a = key(0x1000);
        let h1 = c.acquire(&a, &mut reg).unwrap();
        c.release(&a);
        let b = ResourceKey {
            width: 1280,
            height: 720,
            pitch: 1280,
            ..a
        };
        let h2 = c.acquire(&b, &mut reg).unwrap();
        assert_ne!(h1, h2);
        assert_eq!(reg.live, vec![h2]);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn lru_eviction_spares_mapped_resources() {
        let mut reg = Fake::default();
        let mut c = RegistrationCache::new(2);
        let (a, b, d) = (key(1), key(2), key(3));
        c.acquire(&a, &mut reg).unwrap(); // a stays mapped
        c.acquire(&b, &mut reg).unwrap();
        c.release(&b);
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
            c.release(&k);
        }
        c.clear(&mut reg).unwrap();
        assert!(reg.live.is_empty());
    }
}
