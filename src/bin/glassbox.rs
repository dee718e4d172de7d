fn main() {
    std::process::exit(glassbox::cli::main());
}
