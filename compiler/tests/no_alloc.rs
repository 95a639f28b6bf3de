//! Evaluating a compiled predicate allocates nothing: the shapes run
//! directly and the stack machine alike (a counting allocator for this test
//! binary alone).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use hacmp_compiler::predicate::{compile, Observation, Plan, Scalar};
use hacmp_grammar::parse_predicate;
use hacmp_grammar::span::Span;
use hacmp_stdlib::{ScalarType, ValueType};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn evaluation_allocates_nothing() {
    let pc = ValueType::Sbs(vec![ScalarType::Int, ScalarType::Int, ScalarType::String]);
    let int = ValueType::Scalar(ScalarType::Int);
    let float = ValueType::Scalar(ScalarType::Float);
    let cases = [
        ("X@0==0&&X@1!=0", &pc),
        ("X>90", &float),
        ("X>=90&&X<100&&X@P<90", &float),
        ("X@2==\"rwhod\"||X@0>3", &pc),
        ("(X*3+X@P)/2>=17&&(X&7)!=3||-X<X@P%5", &int),
    ];
    for (src, t) in cases {
        let p = compile(&parse_predicate(src, Span::default()).unwrap(), t, src).unwrap();
        let records: Vec<Vec<Scalar>> = (0..64)
            .map(|i| match t {
                ValueType::Sbs(_) => vec![
                    Scalar::Int(i % 3),
                    Scalar::Int(i % 2),
                    Scalar::Str("rwhod".into()),
                ],
                _ if t == &float => vec![Scalar::Float(80.0 + (i % 21) as f64)],
                _ => vec![Scalar::Int(i * 7 - 100)],
            })
            .collect();
        let prev = if t == &float {
            [Scalar::Float(85.0)]
        } else {
            [Scalar::Int(4)]
        };
        let before = ALLOCS.load(Ordering::SeqCst);
        let mut hits = 0;
        for r in &records {
            let obs = Observation {
                current: r,
                previous: Some(&prev),
            };
            hits += usize::from(p.eval(&obs).unwrap_or(false));
            hits += usize::from(p.run_stack(&obs).unwrap_or(false));
        }
        let after = ALLOCS.load(Ordering::SeqCst);
        assert_eq!(after - before, 0, "{src} allocated ({hits} hits)");
        if src.starts_with("(X*3") {
            assert_eq!(
                p.plan,
                Plan::Stack,
                "the long one runs on the stack machine"
            );
        }
    }
}
