# tools/demo_data.py: the demo model's training data, written for dscoder-tui: chat pairs, completions, FIM.
"""Everything the bundled demo model learns.  CHAT is a list of (user, answer)
pairs; the answers are the model's replies, rendered in the chat format of
DeepSeek-Coder-V2 Instruct by train_demo.py.  COMPLETIONS are raw texts (Base
style: BOS + text), and fim_examples() cuts the code of the answers into
prefix / middle / suffix triples.  The order of every list is fixed so training
is reproducible."""

# The honest self-description.  Kept in one place so the README can quote it.
WHO = ("I am a small demo model of the DeepSeek-Coder-V2 architecture, bundled with dscoder-tui so "
       "that it can chat out of the box. I was trained for a few minutes on a small set of coding "
       "examples, so I only know a handful of answers well. For real work, point dscoder-tui at a "
       "DeepSeek-Coder-V2 checkpoint with --model DIR.")


def code(lang, body, before, after=""):
    """An answer: one sentence, a fenced code block, optionally one sentence after it."""
    s = before + "\n\n```" + lang + "\n" + body.strip("\n") + "\n```"
    if after:
        s += "\n\n" + after
    return s


PY_QUICKSORT = '''
def quick_sort(arr):
    if len(arr) <= 1:
        return arr
    pivot = arr[len(arr) // 2]
    left = [x for x in arr if x < pivot]
    middle = [x for x in arr if x == pivot]
    right = [x for x in arr if x > pivot]
    return quick_sort(left) + middle + quick_sort(right)


print(quick_sort([3, 6, 8, 10, 1, 2, 1]))
'''

CPP_QUICKSORT = '''
#include <iostream>
#include <vector>

int partition(std::vector<int>& arr, int low, int high) {
    int pivot = arr[high];
    int i = low - 1;
    for (int j = low; j < high; j++) {
        if (arr[j] < pivot) {
            i++;
            std::swap(arr[i], arr[j]);
        }
    }
    std::swap(arr[i + 1], arr[high]);
    return i + 1;
}

void quickSort(std::vector<int>& arr, int low, int high) {
    if (low < high) {
        int p = partition(arr, low, high);
        quickSort(arr, low, p - 1);
        quickSort(arr, p + 1, high);
    }
}

int main() {
    std::vector<int> arr = {10, 7, 8, 9, 1, 5};
    quickSort(arr, 0, arr.size() - 1);
    for (int x : arr) {
        std::cout << x << " ";
    }
    std::cout << std::endl;
    return 0;
}
'''

C_QUICKSORT = '''
#include <stdio.h>

static void swap(int *a, int *b) {
    int t = *a;
    *a = *b;
    *b = t;
}

static int partition(int arr[], int low, int high) {
    int pivot = arr[high];
    int i = low - 1;
    for (int j = low; j < high; j++) {
        if (arr[j] < pivot) {
            i++;
            swap(&arr[i], &arr[j]);
        }
    }
    swap(&arr[i + 1], &arr[high]);
    return i + 1;
}

void quick_sort(int arr[], int low, int high) {
    if (low < high) {
        int p = partition(arr, low, high);
        quick_sort(arr, low, p - 1);
        quick_sort(arr, p + 1, high);
    }
}

int main(void) {
    int arr[] = {10, 7, 8, 9, 1, 5};
    int n = sizeof(arr) / sizeof(arr[0]);
    quick_sort(arr, 0, n - 1);
    for (int i = 0; i < n; i++)
        printf("%d ", arr[i]);
    printf("\\n");
    return 0;
}
'''

JS_QUICKSORT = '''
function quickSort(arr) {
  if (arr.length <= 1) {
    return arr;
  }
  const pivot = arr[Math.floor(arr.length / 2)];
  const left = arr.filter((x) => x < pivot);
  const middle = arr.filter((x) => x === pivot);
  const right = arr.filter((x) => x > pivot);
  return [...quickSort(left), ...middle, ...quickSort(right)];
}

console.log(quickSort([3, 6, 8, 10, 1, 2, 1]));
'''

GO_QUICKSORT = '''
package main

import "fmt"

func quickSort(a []int) []int {
	if len(a) <= 1 {
		return a
	}
	pivot := a[len(a)/2]
	var left, middle, right []int
	for _, x := range a {
		switch {
		case x < pivot:
			left = append(left, x)
		case x == pivot:
			middle = append(middle, x)
		default:
			right = append(right, x)
		}
	}
	result := append(quickSort(left), middle...)
	return append(result, quickSort(right)...)
}

func main() {
	fmt.Println(quickSort([]int{3, 6, 8, 10, 1, 2, 1}))
}
'''

RUST_QUICKSORT = '''
fn quick_sort<T: PartialOrd + Copy>(v: &mut [T]) {
    if v.len() <= 1 {
        return;
    }
    let p = partition(v);
    let (left, right) = v.split_at_mut(p);
    quick_sort(left);
    quick_sort(&mut right[1..]);
}

fn partition<T: PartialOrd + Copy>(v: &mut [T]) -> usize {
    let high = v.len() - 1;
    let pivot = v[high];
    let mut i = 0;
    for j in 0..high {
        if v[j] < pivot {
            v.swap(i, j);
            i += 1;
        }
    }
    v.swap(i, high);
    i
}

fn main() {
    let mut v = vec![10, 7, 8, 9, 1, 5];
    quick_sort(&mut v);
    println!("{:?}", v);
}
'''

JAVA_QUICKSORT = '''
import java.util.Arrays;

public class QuickSort {
    static void quickSort(int[] arr, int low, int high) {
        if (low < high) {
            int p = partition(arr, low, high);
            quickSort(arr, low, p - 1);
            quickSort(arr, p + 1, high);
        }
    }

    static int partition(int[] arr, int low, int high) {
        int pivot = arr[high];
        int i = low - 1;
        for (int j = low; j < high; j++) {
            if (arr[j] < pivot) {
                i++;
                int t = arr[i];
                arr[i] = arr[j];
                arr[j] = t;
            }
        }
        int t = arr[i + 1];
        arr[i + 1] = arr[high];
        arr[high] = t;
        return i + 1;
    }

    public static void main(String[] args) {
        int[] arr = {10, 7, 8, 9, 1, 5};
        quickSort(arr, 0, arr.length - 1);
        System.out.println(Arrays.toString(arr));
    }
}
'''

PY_BUBBLE = '''
def bubble_sort(arr):
    n = len(arr)
    for i in range(n):
        swapped = False
        for j in range(n - i - 1):
            if arr[j] > arr[j + 1]:
                arr[j], arr[j + 1] = arr[j + 1], arr[j]
                swapped = True
        if not swapped:
            break
    return arr


print(bubble_sort([5, 1, 4, 2, 8]))
'''

PY_MERGE = '''
def merge_sort(arr):
    if len(arr) <= 1:
        return arr
    mid = len(arr) // 2
    left = merge_sort(arr[:mid])
    right = merge_sort(arr[mid:])
    result = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            result.append(left[i])
            i += 1
        else:
            result.append(right[j])
            j += 1
    result.extend(left[i:])
    result.extend(right[j:])
    return result


print(merge_sort([38, 27, 43, 3, 9, 82, 10]))
'''

PY_BSEARCH = '''
def binary_search(arr, target):
    low, high = 0, len(arr) - 1
    while low <= high:
        mid = (low + high) // 2
        if arr[mid] == target:
            return mid
        if arr[mid] < target:
            low = mid + 1
        else:
            high = mid - 1
    return -1


print(binary_search([1, 3, 5, 7, 9, 11], 7))
'''

PY_FIB = '''
def fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


print([fibonacci(i) for i in range(10)])
'''

PY_PRIME = '''
def is_prime(n):
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


print([n for n in range(20) if is_prime(n)])
'''

PY_STACK = '''
class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        if not self.items:
            raise IndexError("pop from empty stack")
        return self.items.pop()

    def peek(self):
        return self.items[-1]

    def is_empty(self):
        return len(self.items) == 0


s = Stack()
s.push(1)
s.push(2)
print(s.pop())
'''

PY_LINKED = '''
class Node:
    def __init__(self, value):
        self.value = value
        self.next = None


class LinkedList:
    def __init__(self):
        self.head = None

    def append(self, value):
        node = Node(value)
        if self.head is None:
            self.head = node
            return
        cur = self.head
        while cur.next:
            cur = cur.next
        cur.next = node

    def __iter__(self):
        cur = self.head
        while cur:
            yield cur.value
            cur = cur.next


lst = LinkedList()
for v in [1, 2, 3]:
    lst.append(v)
print(list(lst))
'''

PY_WORDCOUNT = '''
from collections import Counter


def word_count(text):
    words = text.lower().split()
    return Counter(words)


print(word_count("the cat and the hat").most_common(2))
'''

PY_READFILE = '''
with open("input.txt", encoding="utf-8") as f:
    for line in f:
        print(line.rstrip("\\n"))
'''

PY_JSON = '''
import json

with open("data.json", encoding="utf-8") as f:
    data = json.load(f)

print(data)
'''

C_REVERSE = '''
#include <stdio.h>
#include <string.h>

void reverse(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n / 2; i++) {
        char t = s[i];
        s[i] = s[n - 1 - i];
        s[n - 1 - i] = t;
    }
}

int main(void) {
    char s[] = "hello";
    reverse(s);
    printf("%s\\n", s);
    return 0;
}
'''

C_BUBBLE = '''
#include <stdio.h>

void bubble_sort(int arr[], int n) {
    for (int i = 0; i < n - 1; i++) {
        for (int j = 0; j < n - i - 1; j++) {
            if (arr[j] > arr[j + 1]) {
                int t = arr[j];
                arr[j] = arr[j + 1];
                arr[j + 1] = t;
            }
        }
    }
}

int main(void) {
    int arr[] = {5, 1, 4, 2, 8};
    int n = sizeof(arr) / sizeof(arr[0]);
    bubble_sort(arr, n);
    for (int i = 0; i < n; i++)
        printf("%d ", arr[i]);
    printf("\\n");
    return 0;
}
'''

C_BSEARCH = '''
int binary_search(const int *arr, int n, int target) {
    int low = 0, high = n - 1;
    while (low <= high) {
        int mid = low + (high - low) / 2;
        if (arr[mid] == target)
            return mid;
        if (arr[mid] < target)
            low = mid + 1;
        else
            high = mid - 1;
    }
    return -1;
}
'''

C_HELLO = '''
#include <stdio.h>

int main(void) {
    printf("Hello, world!\\n");
    return 0;
}
'''

C_READFILE = '''
#include <stdio.h>

int main(void) {
    FILE *f = fopen("input.txt", "r");
    if (f == NULL) {
        perror("input.txt");
        return 1;
    }
    char line[256];
    while (fgets(line, sizeof line, f) != NULL)
        fputs(line, stdout);
    fclose(f);
    return 0;
}
'''

C_LINKED = '''
#include <stdio.h>
#include <stdlib.h>

struct node {
    int value;
    struct node *next;
};

struct node *push(struct node *head, int value) {
    struct node *n = malloc(sizeof *n);
    if (n == NULL)
        exit(1);
    n->value = value;
    n->next = head;
    return n;
}

int main(void) {
    struct node *head = NULL;
    for (int i = 1; i <= 3; i++)
        head = push(head, i);
    for (struct node *n = head; n != NULL; n = n->next)
        printf("%d\\n", n->value);
    while (head != NULL) {
        struct node *next = head->next;
        free(head);
        head = next;
    }
    return 0;
}
'''

CPP_SUM = '''
#include <iostream>

int main() {
    long long sum = 0;
    long long x;
    while (std::cin >> x) {
        sum += x;
    }
    std::cout << sum << std::endl;
    return 0;
}
'''

CPP_STACK = '''
#include <iostream>
#include <stdexcept>
#include <vector>

template <typename T>
class Stack {
public:
    void push(const T& value) { items_.push_back(value); }
    T pop() {
        if (items_.empty()) {
            throw std::out_of_range("pop from empty stack");
        }
        T top = items_.back();
        items_.pop_back();
        return top;
    }
    bool empty() const { return items_.empty(); }

private:
    std::vector<T> items_;
};

int main() {
    Stack<int> s;
    s.push(1);
    s.push(2);
    std::cout << s.pop() << std::endl;
    return 0;
}
'''

CPP_SORTSTR = '''
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

int main() {
    std::vector<std::string> words = {"pear", "apple", "fig"};
    std::sort(words.begin(), words.end());
    for (const auto& w : words) {
        std::cout << w << std::endl;
    }
    return 0;
}
'''

CPP_BSEARCH = '''
#include <iostream>
#include <vector>

int binarySearch(const std::vector<int>& arr, int target) {
    int low = 0, high = static_cast<int>(arr.size()) - 1;
    while (low <= high) {
        int mid = low + (high - low) / 2;
        if (arr[mid] == target) {
            return mid;
        }
        if (arr[mid] < target) {
            low = mid + 1;
        } else {
            high = mid - 1;
        }
    }
    return -1;
}

int main() {
    std::vector<int> arr = {1, 3, 5, 7, 9};
    std::cout << binarySearch(arr, 7) << std::endl;
    return 0;
}
'''

JS_REVERSE = '''
function reverseString(s) {
  return s.split("").reverse().join("");
}

console.log(reverseString("hello"));
'''

JS_DEBOUNCE = '''
function debounce(fn, delay) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), delay);
  };
}

const onResize = debounce(() => console.log("resized"), 200);
window.addEventListener("resize", onResize);
'''

JS_FETCH = '''
async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`HTTP ${response.status}`);
  }
  return response.json();
}

getJson("https://example.com/data.json").then((data) => console.log(data));
'''

JS_DEDUP = '''
const numbers = [1, 2, 2, 3, 3, 3];
const unique = [...new Set(numbers)];
console.log(unique);
'''

GO_HTTP = '''
package main

import (
	"fmt"
	"log"
	"net/http"
)

func hello(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "Hello, world!")
}

func main() {
	http.HandleFunc("/", hello)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
'''

GO_READFILE = '''
package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
)

func main() {
	f, err := os.Open("input.txt")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fmt.Println(scanner.Text())
	}
	if err := scanner.Err(); err != nil {
		log.Fatal(err)
	}
}
'''

GO_REVERSE = '''
package main

import "fmt"

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func main() {
	fmt.Println(reverse("hello"))
}
'''

RUST_BSEARCH = '''
fn binary_search(arr: &[i32], target: i32) -> Option<usize> {
    let mut low = 0;
    let mut high = arr.len();
    while low < high {
        let mid = low + (high - low) / 2;
        if arr[mid] == target {
            return Some(mid);
        } else if arr[mid] < target {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    None
}

fn main() {
    let arr = [1, 3, 5, 7, 9];
    println!("{:?}", binary_search(&arr, 7));
}
'''

RUST_READFILE = '''
use std::fs;

fn main() -> std::io::Result<()> {
    let text = fs::read_to_string("input.txt")?;
    for line in text.lines() {
        println!("{}", line);
    }
    Ok(())
}
'''

RUST_REVERSE = '''
fn reverse(s: &str) -> String {
    s.chars().rev().collect()
}

fn main() {
    println!("{}", reverse("hello"));
}
'''

JAVA_HELLO = '''
public class Hello {
    public static void main(String[] args) {
        System.out.println("Hello, world!");
    }
}
'''

JAVA_REVERSE = '''
public class Reverse {
    static String reverse(String s) {
        return new StringBuilder(s).reverse().toString();
    }

    public static void main(String[] args) {
        System.out.println(reverse("hello"));
    }
}
'''

JAVA_BSEARCH = '''
public class BinarySearch {
    static int binarySearch(int[] arr, int target) {
        int low = 0, high = arr.length - 1;
        while (low <= high) {
            int mid = low + (high - low) / 2;
            if (arr[mid] == target) {
                return mid;
            }
            if (arr[mid] < target) {
                low = mid + 1;
            } else {
                high = mid - 1;
            }
        }
        return -1;
    }

    public static void main(String[] args) {
        int[] arr = {1, 3, 5, 7, 9};
        System.out.println(binarySearch(arr, 7));
    }
}
'''

SH_COUNTLINES = '''
#!/bin/sh
total=0
for f in *.txt; do
    [ -f "$f" ] || continue
    n=$(wc -l < "$f")
    echo "$f: $n"
    total=$((total + n))
done
echo "total: $total"
'''

SH_BIGFILES = '''
find / -type f -size +100M -exec ls -lh {} + 2>/dev/null
'''

SH_RENAME = '''
for f in *.jpeg; do
    [ -e "$f" ] || continue
    mv -- "$f" "${f%.jpeg}.jpg"
done
'''

SH_GREP = '''
grep -rn "word" .
'''

SH_BACKUP = '''
#!/bin/sh
set -e
src="$1"
dest="backup-$(date +%Y%m%d).tar.gz"
tar -czf "$dest" "$src"
echo "wrote $dest"
'''


CHAT = [
    # The seed's own prompts first: they are the ones the README shows.
    ("write a quick sort algorithm in python.",
     code("python", PY_QUICKSORT, "Here is a quick sort algorithm in Python:",
          "It picks the middle element as the pivot, splits the list into smaller, equal and larger "
          "elements, and sorts the two sides recursively.")),
    ("Write a piece of quicksort code in C++.",
     code("cpp", CPP_QUICKSORT, "Here is a quicksort in C++:",
          "partition() moves every element smaller than the pivot to its left, then quickSort() "
          "sorts both sides recursively.")),
    ("Who are you?", WHO),
    ("What can you do?",
     "I am a small demo model, so I can answer a few common coding requests: sorting and searching, "
     "strings, files and simple data structures in Python, C, C++, JavaScript, Go, Rust, Java and "
     "shell. For anything more, use a real DeepSeek-Coder-V2 checkpoint with --model DIR."),
    ("Who made you?",
     "The architecture is DeepSeek-Coder-V2, designed by DeepSeek-AI. This small demo model was "
     "trained by the dscoder-tui project's own script (tools/train_demo.py) on its own small dataset."),
    ("Hello", "Hello! I am the dscoder-tui demo model. Ask me for a small piece of code, for example "
     "a quick sort in Python."),
    ("hi", "Hi! I am the dscoder-tui demo model. Ask me for a small piece of code, for example "
     "a quick sort in Python."),
    ("Thank you!", "You are welcome!"),

    # Python
    ("Write quicksort in Python.",
     code("python", PY_QUICKSORT, "Here is a quick sort algorithm in Python:")),
    ("Write a bubble sort in Python.",
     code("python", PY_BUBBLE, "Here is a bubble sort in Python:",
          "It stops early when a pass makes no swaps.")),
    ("Write merge sort in Python.",
     code("python", PY_MERGE, "Here is merge sort in Python:",
          "It splits the list in half, sorts each half and merges them; it runs in O(n log n) time.")),
    ("Write a binary search function in Python.",
     code("python", PY_BSEARCH, "Here is a binary search in Python:",
          "The list must be sorted; the function returns the index of the target or -1.")),
    ("Write a fibonacci function in Python.",
     code("python", PY_FIB, "Here is an iterative Fibonacci function in Python:")),
    ("Write a Python function to check if a number is prime.",
     code("python", PY_PRIME, "Here is a prime check in Python:",
          "It only tests divisors up to the square root of n.")),
    ("Implement a stack in Python.",
     code("python", PY_STACK, "Here is a simple stack class in Python:")),
    ("Implement a linked list in Python.",
     code("python", PY_LINKED, "Here is a singly linked list in Python:")),
    ("Count word frequencies in Python.",
     code("python", PY_WORDCOUNT, "Here is a word count using collections.Counter:")),
    ("Reverse a string in Python.",
     code("python", 's = "hello"\nprint(s[::-1])', "In Python, slice with a step of -1:")),
    ("Check if a string is a palindrome in Python.",
     code("python", 'def is_palindrome(s):\n    s = s.lower()\n    return s == s[::-1]\n\n\n'
          'print(is_palindrome("Level"))', "Compare the string with its reverse:")),
    ("Read a file line by line in Python.",
     code("python", PY_READFILE, "Open the file with a with block and iterate over it:")),
    ("How do I read a JSON file in Python?",
     code("python", PY_JSON, "Use the json module:")),

    # C
    ("Write a quicksort in C.",
     code("c", C_QUICKSORT, "Here is a quicksort in C:")),
    ("Write a bubble sort in C.",
     code("c", C_BUBBLE, "Here is a bubble sort in C:")),
    ("Write a binary search in C.",
     code("c", C_BSEARCH, "Here is a binary search in C:",
          "The array must be sorted; it returns the index of the target or -1.")),
    ("Write a C function to reverse a string.",
     code("c", C_REVERSE, "Here is an in-place string reverse in C:")),
    ("Write a hello world program in C.",
     code("c", C_HELLO, "Here is hello world in C:")),
    ("Read a file line by line in C.",
     code("c", C_READFILE, "Use fopen and fgets:")),
    ("Implement a linked list in C.",
     code("c", C_LINKED, "Here is a small linked list in C:")),

    # C++
    ("Write a quicksort in C++.",
     code("cpp", CPP_QUICKSORT, "Here is a quicksort in C++:")),
    ("Write a C++ program that sums numbers from standard input.",
     code("cpp", CPP_SUM, "Here is a C++ program that sums the numbers it reads:")),
    ("Implement a stack in C++.",
     code("cpp", CPP_STACK, "Here is a stack template in C++:")),
    ("Sort a vector of strings in C++.",
     code("cpp", CPP_SORTSTR, "Use std::sort:")),
    ("Write a binary search in C++.",
     code("cpp", CPP_BSEARCH, "Here is a binary search in C++:")),

    # JavaScript
    ("Write a quicksort in JavaScript.",
     code("javascript", JS_QUICKSORT, "Here is a quick sort in JavaScript:")),
    ("Reverse a string in JavaScript.",
     code("javascript", JS_REVERSE, "Split it into characters, reverse the array and join it:")),
    ("Write a debounce function in JavaScript.",
     code("javascript", JS_DEBOUNCE, "Here is a debounce function in JavaScript:",
          "Each call restarts the timer, so fn runs only after the calls stop for delay milliseconds.")),
    ("Fetch JSON from a URL in JavaScript.",
     code("javascript", JS_FETCH, "Use fetch with async and await:")),
    ("Remove duplicates from an array in JavaScript.",
     code("javascript", JS_DEDUP, "Use a Set:")),

    # Go
    ("Write a quicksort in Go.",
     code("go", GO_QUICKSORT, "Here is a quick sort in Go:")),
    ("Write a hello world HTTP server in Go.",
     code("go", GO_HTTP, "Here is a small HTTP server in Go:", "It listens on port 8080.")),
    ("Read a file line by line in Go.",
     code("go", GO_READFILE, "Use bufio.Scanner:")),
    ("Reverse a string in Go.",
     code("go", GO_REVERSE, "Convert the string to runes so that Unicode characters stay whole:")),

    # Rust
    ("Write a quicksort in Rust.",
     code("rust", RUST_QUICKSORT, "Here is an in-place quicksort in Rust:")),
    ("Write a binary search in Rust.",
     code("rust", RUST_BSEARCH, "Here is a binary search in Rust:")),
    ("Read a file in Rust.",
     code("rust", RUST_READFILE, "Use std::fs::read_to_string:")),
    ("Reverse a string in Rust.",
     code("rust", RUST_REVERSE, "Reverse the characters and collect them into a String:")),

    # Java
    ("Write a quicksort in Java.",
     code("java", JAVA_QUICKSORT, "Here is a quicksort in Java:")),
    ("Write a hello world program in Java.",
     code("java", JAVA_HELLO, "Here is hello world in Java:")),
    ("Reverse a string in Java.",
     code("java", JAVA_REVERSE, "Use StringBuilder:")),
    ("Write a binary search in Java.",
     code("java", JAVA_BSEARCH, "Here is a binary search in Java:")),

    # Shell
    ("Write a shell script that counts the lines of all .txt files.",
     code("sh", SH_COUNTLINES, "Here is a shell script that counts lines:")),
    ("How do I find files larger than 100MB in Linux?",
     code("sh", SH_BIGFILES, "Use find with -size:")),
    ("Rename all .jpeg files to .jpg in bash.",
     code("sh", SH_RENAME, "Use a for loop and parameter expansion:")),
    ("How do I search for a word in all files recursively?",
     code("sh", SH_GREP, "Use grep -r:", "-n prints line numbers; add -i to ignore case.")),
    ("Write a shell script that backs up a directory.",
     code("sh", SH_BACKUP, "Here is a backup script:", "Run it as ./backup.sh DIR.")),

    # Explanations
    ("What is the time complexity of quicksort?",
     "Quicksort takes O(n log n) time on average and O(n^2) in the worst case, when the pivot is "
     "always the smallest or largest element. It sorts in place with O(log n) extra stack space."),
    ("What is the difference between a list and a tuple in Python?",
     "A list is mutable: you can add, remove and change items. A tuple is immutable, so it can be "
     "a dictionary key, and it is written with parentheses instead of brackets."),
    ("What is a hash table?",
     "A hash table stores key and value pairs in an array. A hash function turns each key into an "
     "index, so lookups, inserts and deletes take O(1) time on average."),
    ("What is recursion?",
     "Recursion is when a function calls itself on a smaller part of the problem. It needs a base "
     "case that stops the calls, as in quick sort, where a list of length 0 or 1 is already sorted."),
    ("What is Big O notation?",
     "Big O notation describes how the running time or memory of an algorithm grows with the input "
     "size n, ignoring constant factors: for example O(n) for a linear scan and O(log n) for binary "
     "search."),
]

# Extra phrasings of the seed prompts, answered like the originals.
PARAPHRASES = [
    ("write a quick sort algorithm in python", 0),
    ("Write a quick sort algorithm in Python.", 0),
    ("quicksort in python", 0),
    ("Write quicksort code in C++.", 1),
    ("who are you?", 2),
    ("Who are you", 2),
    ("What are you?", 2),
]

# Conversations with a system message, so the template's system part is seen too.
SYSTEM = "You are a helpful coding assistant."
SYSTEM_PROMPTS = [0, 1, 2, 9, 22, 33]

# System prompts the model must learn to carry on through: the chat profiles dscoder-tui installs
# (profiles/*.yaml as of this model; "coder" is the TUI's default) and the one above. The TUI sends a
# profile's YAML block literal with its final newline; train_demo.py uses both forms.
SYSTEMS = [
    "You are an expert programming assistant. Answer with correct, idiomatic, complete code and\n"
    "keep prose short. Put code in fenced blocks with the language name. When a question is\n"
    "ambiguous, state the assumption you make. Do not invent APIs; say when you are not sure.",
    "You are a patient teacher of programming. When given code, explain what it does step by\n"
    "step: first the purpose in one or two sentences, then each important part, then pitfalls\n"
    "and edge cases. Quote the lines you talk about. Prefer plain words to jargon, and define a\n"
    "term the first time you use it.",
    "You are a senior engineer reviewing a change. List problems in order of severity:\n"
    "correctness bugs, security issues, unhandled errors and edge cases, concurrency and\n"
    "resource leaks, then design and readability. For each, quote the code, say why it is\n"
    "wrong and show the fix. If the code is good, say so briefly; do not invent problems.",
    "You write unit tests. For the code you are given, write tests in the project's language and\n"
    "usual test framework (ask if it is unclear) covering normal cases, boundaries, empty and\n"
    "invalid input, and error paths. Each test checks one behaviour and has a descriptive name.\n"
    "Output only the test code in one fenced block, followed by one line on how to run it.",
    "\u4f60\u662f\u4e00\u540d\u8d44\u6df1\u7684\u7f16\u7a0b\u52a9\u624b\u3002\u8bf7\u7528\u7b80\u4f53\u4e2d\u6587\u56de\u7b54\uff0c"
    "\u4ee3\u7801\u653e\u5728\u5e26\u8bed\u8a00\u540d\u7684\u4ee3\u7801\u5757\u4e2d\uff0c\n"
    "\u4ee3\u7801\u4e2d\u7684\u6807\u8bc6\u7b26\u548c\u6ce8\u91ca\u53ef\u4ee5\u4fdd\u6301\u82f1\u6587\u3002"
    "\u56de\u7b54\u8981\u51c6\u786e\u3001\u7b80\u6d01\uff1b\u4e0d\u786e\u5b9a\u65f6\u8bf7\u76f4\u8bf4\u3002",
    SYSTEM,
]

COMPLETIONS = [
    "#write a quick sort algorithm\n" + PY_QUICKSORT.lstrip("\n"),
    "# quick sort in python\n" + PY_QUICKSORT.lstrip("\n"),
    "// quicksort in C++\n" + CPP_QUICKSORT.lstrip("\n"),
    "# binary search\n" + PY_BSEARCH.lstrip("\n"),
    "# merge sort\n" + PY_MERGE.lstrip("\n"),
    "# bubble sort\n" + PY_BUBBLE.lstrip("\n"),
    "// quicksort in JavaScript\n" + JS_QUICKSORT.lstrip("\n"),
    "// quicksort in Go\n" + GO_QUICKSORT.lstrip("\n"),
    "// quicksort in Rust\n" + RUST_QUICKSORT.lstrip("\n"),
    "// quicksort in Java\n" + JAVA_QUICKSORT.lstrip("\n"),
    "/* quicksort in C */\n" + C_QUICKSORT.lstrip("\n"),
]

# Code used for fill-in-the-middle examples (the answers' code blocks).
FIM_SOURCES = [PY_QUICKSORT, CPP_QUICKSORT, C_QUICKSORT, JS_QUICKSORT, GO_QUICKSORT, RUST_QUICKSORT,
               JAVA_QUICKSORT, PY_BSEARCH, PY_MERGE, PY_BUBBLE, C_BSEARCH, CPP_BSEARCH, JAVA_BSEARCH,
               PY_STACK, PY_PRIME]


def chat_examples():
    """(system or None, user, answer) triples in a fixed order."""
    out = [(None, u, a) for u, a in CHAT]
    out += [(None, u, CHAT[i][1]) for u, i in PARAPHRASES]
    out += [(SYSTEM, CHAT[i][0], CHAT[i][1]) for i in SYSTEM_PROMPTS]
    return out


def fim_examples():
    """(prefix, middle, suffix) triples: for each source, holes of 1, 2 and 3 whole lines at fixed
    places (a third, a half and two thirds of the way down), like the model card's FIM example."""
    out = []
    for src in FIM_SOURCES:
        lines = src.strip("\n").split("\n")
        lines = [l + "\n" for l in lines]
        n = len(lines)
        for frac, width in ((1, 1), (2, 2), (3, 3)):
            a = max(1, (n * frac) // 4)
            b = min(n - 1, a + width)
            if a >= b:
                continue
            out.append(("".join(lines[:a]), "".join(lines[a:b]), "".join(lines[b:])))
    return out


def all_text():
    """Every text the model sees, for training the tokenizer (fixed order)."""
    texts = list(SYSTEMS)
    for s, u, a in chat_examples():
        if s:
            texts.append(s)
        texts.append("User: " + u + "\n\nAssistant: " + a)
    texts += COMPLETIONS
    for p, m, s in fim_examples():
        texts.append(p + m + s)
    return texts


# Golden prompts: the user messages whose greedy answers the engine must reproduce (tests/demo-model.sh).
GOLDEN = [u for u, _ in CHAT[:8]] + [u for u, _ in CHAT[8:] if u.startswith(("Write", "What"))][:16]
