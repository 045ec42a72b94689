//! The whole oxidex storage conformance kit, one `#[test]` per case.

oxidex_storage::storage_conformance_tests!(|| async {
    oxidex_example_custom_storage::FlatKeyStorage::default()
});
