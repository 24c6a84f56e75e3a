#include "common/shm_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace np {
namespace {

Error SystemError(const std::string& what, const std::string& name) {
  return MakeError(what + " " + name + ": " + std::strerror(errno));
}

}  // namespace

SharedMemoryFile::SharedMemoryFile(SharedMemoryFile&& other) noexcept { *this = std::move(other); }

SharedMemoryFile& SharedMemoryFile::operator=(SharedMemoryFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) munmap(data_, size_);
    name_ = std::move(other.name_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SharedMemoryFile::~SharedMemoryFile() {
  if (data_ != nullptr) munmap(data_, size_);
}

Result<SharedMemoryFile> SharedMemoryFile::OpenOrCreate(const std::string& name, size_t size,
                                                        bool* created) {
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  *created = fd >= 0;
  if (fd < 0 && errno == EEXIST) fd = shm_open(name.c_str(), O_RDWR, 0600);
  if (fd < 0) return SystemError("cannot open shared memory", name);
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    close(fd);
    return SystemError("cannot stat shared memory", name);
  }
  if (*created || static_cast<size_t>(info.st_size) == 0) {
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
      close(fd);
      return SystemError("cannot size shared memory", name);
    }
    *created = true;
  } else {
    size = static_cast<size_t>(info.st_size);
  }
  SharedMemoryFile file;
  file.name_ = name;
  void* mapping = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (mapping == MAP_FAILED) return SystemError("cannot map shared memory", name);
  file.data_ = static_cast<uint8_t*>(mapping);
  file.size_ = size;
  return file;
}

Result<SharedMemoryFile> SharedMemoryFile::Open(const std::string& name, bool writable) {
  int fd = shm_open(name.c_str(), writable ? O_RDWR : O_RDONLY, 0600);
  if (fd < 0) return SystemError("cannot open shared memory", name);
  struct stat info {};
  if (fstat(fd, &info) != 0 || info.st_size == 0) {
    close(fd);
    return MakeError("shared memory " + name + " is empty");
  }
  const size_t size = static_cast<size_t>(info.st_size);
  void* mapping = mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (mapping == MAP_FAILED) return SystemError("cannot map shared memory", name);
  SharedMemoryFile file;
  file.name_ = name;
  file.data_ = static_cast<uint8_t*>(mapping);
  file.size_ = size;
  return file;
}

void SharedMemoryFile::Remove(const std::string& name) { shm_unlink(name.c_str()); }

std::string ShmName(const std::string& instance, const std::string& what) {
  return "/nodeplane." + instance + "." + what;
}

}  // namespace np
