fn main() {
    explorer::start();
}
